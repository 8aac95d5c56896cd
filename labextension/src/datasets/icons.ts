import { LabIcon } from '@jupyterlab/ui-components';

/** A table with a header row: the datasets panel and its tabs. */
export const datasetIcon = new LabIcon({
  name: 'ai-notebook-ext:dataset-icon',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 4h18a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1zm1 5v4h7V9zm9 0v4h7V9zm-9 6v3h7v-3zm9 0v3h7v-3zM4 6v1h16V6z"/>
  </g>
</svg>`
});
