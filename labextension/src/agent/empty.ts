/**
 * What the agent panel shows when no AI provider is reachable: exactly what
 * to configure, and why each provider could not be used.
 */
import { el } from '../dom';
import type { IProvider } from './client';

function code(text: string): HTMLElement {
  return el('code', '', text);
}

function item(...parts: Array<string | HTMLElement>): HTMLElement {
  const li = el('li');
  li.append(...parts);
  return li;
}

export function noProviderNotice(
  providers: IProvider[],
  retry: () => void
): HTMLElement {
  const box = el('div', 'ainb-agent-empty');
  box.appendChild(el('h3', '', 'No AI provider is reachable'));
  box.appendChild(
    el(
      'p',
      '',
      'The agent needs a model. Configure one of these where JupyterLab runs, then restart it:'
    )
  );
  const list = el('ul');
  list.append(
    item(
      'OpenAI (or an OpenAI-compatible server): set ',
      code('OPENAI_API_KEY'),
      ' (and ',
      code('OPENAI_BASE_URL'),
      ' for another server), or ',
      code('c.AINotebookApp.openai_api_key'),
      '.'
    ),
    item(
      'Google Gemini: set ',
      code('GEMINI_API_KEY'),
      ', or ',
      code('c.AINotebookApp.gemini_api_key'),
      '.'
    ),
    item(
      'A local Ollama (nothing leaves the machine): run ',
      code('ollama serve'),
      ' at ',
      code('http://127.0.0.1:11434'),
      ' (or set ',
      code('OLLAMA_HOST'),
      '), ',
      code('ollama pull qwen2.5:7b'),
      ' (a model with tool calling), and start JupyterLab with ',
      code('--AINotebookApp.ai_default_model=ollama:qwen2.5:7b'),
      '.'
    )
  );
  box.appendChild(list);
  const why = providers.filter(p => p.hint || p.error);
  if (why.length) {
    const details = el('ul', 'ainb-agent-empty-why');
    for (const p of why) {
      details.appendChild(item(code(p.name), ` ${p.error || p.hint}`));
    }
    box.appendChild(el('p', '', 'What the server says:'));
    box.appendChild(details);
  }
  const again = el(
    'button',
    'jp-Button jp-mod-styled jp-mod-reject ainb-agent-retry',
    'Check again'
  );
  again.type = 'button';
  again.addEventListener('click', retry);
  box.appendChild(again);
  return box;
}
