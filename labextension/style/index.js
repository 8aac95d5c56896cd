import './base.css';
import './dag.css';
