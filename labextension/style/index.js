import './base.css';
import './dag.css';
import './agent.css';
