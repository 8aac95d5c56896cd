/**
 * A version's full profile report in a main-area tab: its progress while the
 * server makes it (dataset-report events, and a slow poll in case the socket
 * is down), then the HTML in a sandboxed iframe (scripts run in an origin of
 * their own; the server's Content-Security-Policy says the same).
 *
 * Selectors: .ainb-ds-report[data-status], progress.ainb-ds-report-progress,
 * iframe.ainb-ds-report-frame.
 */
import type { ServerConnection } from '@jupyterlab/services';
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { el, errorMessage } from '../dom';
import { ProjectEvents } from '../projectevents';
import type { IProjectEvent } from '../projectevents';
import { DatasetsClient } from './client';
import type { IReport } from './client';
import { datasetIcon } from './icons';

const POLL_MS = 3000;

export class ReportView extends Widget {
  constructor(
    settings: ServerConnection.ISettings,
    readonly projectId: number,
    readonly datasetId: number,
    readonly version: number,
    name: string
  ) {
    super();
    this.id = `ainb-ds-report-${projectId}-${datasetId}-${version}`;
    this.addClass('ainb-ds-report');
    this.title.label = `${name || 'dataset'} v${version} report`;
    this.title.icon = datasetIcon;
    this.title.closable = true;
    this.client = new DatasetsClient(settings, projectId);
    this.events = ProjectEvents.acquire(settings, projectId);
    this.events.received.connect(this.onEvent, this);
    this.bar = el('progress', 'ainb-ds-report-progress');
    this.bar.max = 1;
    this.text = el('div', 'ainb-ds-report-text', 'Starting the report…');
    const wait = el('div', 'ainb-ds-report-wait');
    wait.append(el('h3', '', this.title.label), this.bar, this.text);
    this.node.appendChild(wait);
    void this.start();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this.timer);
    this.events.received.disconnect(this.onEvent, this);
    this.events.release();
    super.dispose();
  }

  /** A closed tab is gone: its event stream is released and the restorer forgets it. */
  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
  }

  private async start(): Promise<void> {
    try {
      this.update_(await this.client.startReport(this.datasetId, this.version));
    } catch (err) {
      this.fail(errorMessage(err));
    }
  }

  private onEvent(_: ProjectEvents, event: IProjectEvent): void {
    if (
      event.type === 'dataset-report' &&
      this.report &&
      event.report_id === this.report.id
    ) {
      this.update_({
        ...this.report,
        status: event.status as IReport['status'],
        progress: Number(event.progress ?? this.report.progress),
        message: String(event.message ?? '')
      });
    }
  }

  private update_(report: IReport): void {
    if (this.isDisposed || this.shown) {
      return;
    }
    this.report = report;
    this.node.dataset.status = report.status;
    window.clearTimeout(this.timer);
    if (report.status === 'done') {
      this.showHtml(report);
      return;
    }
    if (report.status === 'failed') {
      this.fail(report.message || 'the report failed');
      return;
    }
    this.bar.value = Math.max(0.02, report.progress);
    const pct = Math.round(100 * report.progress);
    this.text.textContent =
      report.status === 'queued'
        ? 'Waiting for another report to finish…'
        : `${report.message || 'profiling'} · ${pct}%`;
    this.timer = window.setTimeout(() => void this.poll(), POLL_MS);
  }

  private async poll(): Promise<void> {
    if (!this.report || this.isDisposed) {
      return;
    }
    try {
      this.update_(await this.client.report(this.datasetId, this.report.id));
    } catch (err) {
      this.fail(errorMessage(err));
    }
  }

  private showHtml(report: IReport): void {
    this.shown = true;
    const frame = el('iframe', 'ainb-ds-report-frame');
    frame.setAttribute('sandbox', 'allow-scripts');
    frame.title = this.title.label;
    frame.src = this.client.reportUrl(this.datasetId, report.id);
    const parts: HTMLElement[] = [];
    if (report.sampled_rows) {
      parts.push(
        el(
          'div',
          'ainb-ds-report-note',
          `Made from a sample of ${report.sampled_rows.toLocaleString('en-US')} rows.`
        )
      );
    }
    this.node.replaceChildren(...parts, frame);
  }

  private fail(message: string): void {
    this.node.dataset.status = 'failed';
    this.bar.value = 0;
    this.text.textContent = `No report: ${message}`;
    this.text.classList.add('ainb-ds-error');
  }

  private readonly client: DatasetsClient;
  private readonly events: ProjectEvents;
  private readonly bar: HTMLProgressElement;
  private readonly text: HTMLDivElement;
  private report: IReport | null = null;
  private shown = false;
  private timer = 0;
}
