/** Icons of the DAG view (JupyterLab's `jp-icon3` class follows the theme). */
import { LabIcon } from '@jupyterlab/ui-components';

export const dagIcon = new LabIcon({
  name: 'ai-notebook-ext:dag',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="9" y="2" width="6" height="5" rx="1"/>
    <rect x="3" y="17" width="6" height="5" rx="1"/>
    <rect x="15" y="17" width="6" height="5" rx="1"/>
  </g>
  <g class="jp-icon3" fill="none" stroke="#616161" stroke-width="1.6">
    <path d="M12 7v4.5M6 17v-5.5h12V17"/>
  </g>
</svg>`
});

export const fitIcon = new LabIcon({
  name: 'ai-notebook-ext:dag-fit',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 3h7v2H5v5H3zm11 0h7v7h-2V5h-5zM3 14h2v5h5v2H3zm16 0h2v7h-7v-2h5z"/>
  </g>
</svg>`
});
