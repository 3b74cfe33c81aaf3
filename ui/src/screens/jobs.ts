// Progress bar with cancel for long jobs (import, export), fed by Rust's job-progress events.

import { api, newJobId, onProgress } from "../api";
import { h } from "../dom";
import { thousands } from "../format";

export interface JobView {
  el: HTMLElement;
  run<T>(work: (job: string) => Promise<T>): Promise<T>;
}

export function jobView(): JobView {
  const bar = h("progress", { max: 100, value: 0, id: "job-progress" });
  const text = h("span", { class: "muted", id: "job-text" });
  let job = "";
  const cancel = h(
    "button",
    { type: "button", id: "job-cancel", onclick: () => job && api.cancelJob(job) },
    "Cancelar",
  );
  const el = h("div", { class: "job", hidden: true }, bar, text, cancel);
  return {
    el,
    async run<T>(work: (job: string) => Promise<T>): Promise<T> {
      job = newJobId();
      el.hidden = false;
      bar.removeAttribute("value");
      text.textContent = "Trabajando…";
      const stop = await onProgress((p) => {
        if (p.job !== job) return;
        if (p.total) {
          bar.max = p.total;
          bar.value = p.done;
          text.textContent = `${p.phase}: ${thousands(p.done)} de ${thousands(p.total)}`;
        } else {
          text.textContent = `${p.phase}: ${thousands(p.done)}`;
        }
      });
      try {
        return await work(job);
      } finally {
        stop();
        el.hidden = true;
        job = "";
      }
    },
  };
}
