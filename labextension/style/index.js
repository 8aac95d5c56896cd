import './base.css';
import './dag.css';
import './agent.css';
import './datasets.css';
import './schedules.css';
