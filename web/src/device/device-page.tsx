import { useEffect, useRef, useState } from "preact/hooks";
import { pendingUpload } from "./identity-store.js";
import type { WebBackend } from "./web-backend.js";
import { type DeviceEvent, type RoundOutcome, runWebDevice } from "./web-device.js";

/** The page a phone opens to contribute: join a job, then watch each round go by. */
export function DevicePage(props: {
  jobId: string;
  backend?: string;
  samples: number;
  uploadChunkBytes?: number;
}) {
  const [jobId, setJobId] = useState(props.jobId);
  const [running, setRunning] = useState(false);
  const [event, setEvent] = useState<DeviceEvent>({ phase: "starting", message: "not started" });
  const [log, setLog] = useState<DeviceEvent[]>([]);
  const [outcomes, setOutcomes] = useState<RoundOutcome[]>([]);
  const abort = useRef<AbortController | undefined>(undefined);

  const start = () => {
    abort.current = new AbortController();
    setRunning(true);
    setOutcomes([]);
    void runWebDevice({
      jobId: jobId.trim(),
      samples: props.samples,
      backend: props.backend as WebBackend | undefined,
      uploadChunkBytes: props.uploadChunkBytes,
      signal: abort.current.signal,
      onEvent: (next) => {
        setEvent(next);
        setLog((previous) =>
          previous.at(-1)?.message === next.message ? previous : [...previous.slice(-199), next],
        );
      },
      onOutcome: (outcome) =>
        setOutcomes((previous) => [...previous.filter((o) => o.round !== outcome.round), outcome]),
    })
      .catch((error: unknown) => {
        const message = (error as Error)?.message ?? String(error);
        setEvent({ phase: "error", message });
        setLog((previous) => [...previous, { phase: "error", message }]);
      })
      .finally(() => setRunning(false));
  };

  // A reload in the middle of an upload carries on by itself: the device was already running.
  useEffect(() => {
    if (!props.jobId) return;
    void pendingUpload(props.jobId).then((upload) => {
      if (upload && !abort.current) start();
    });
  }, []);

  return (
    <>
      <section>
        <h2>Join a job from this browser</h2>
        <div class="row">
          <input
            aria-label="job id"
            placeholder="job id"
            value={jobId}
            onInput={(e) => setJobId((e.target as HTMLInputElement).value)}
            disabled={running}
            style={{ flex: "1 1 12rem" }}
          />
          {running ? (
            <button type="button" class="secondary" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          ) : (
            <button type="button" id="join" onClick={start} disabled={!jobId.trim()}>
              Join
            </button>
          )}
        </div>
        <p class="muted">
          Trains on {props.samples} synthetic records generated in this page; the device key is kept
          in this browser (IndexedDB), so a reload re-joins as the same device.
        </p>
      </section>
      <section>
        <h2>
          Now:{" "}
          <span class="phase" data-phase={event.phase}>
            {event.phase}
          </span>
          {event.round ? <span class="muted"> round {event.round}</span> : null}
        </h2>
        <p id="device-status">{event.message}</p>
        {event.progress !== undefined ? <progress value={event.progress} max={1} /> : null}
      </section>
      <section>
        <h2>Rounds</h2>
        <div class="scroll">
          <table id="outcomes">
            <thead>
              <tr>
                <th>round</th>
                <th>outcome</th>
                <th>loss</th>
                <th>held-out acc.</th>
                <th>reason</th>
              </tr>
            </thead>
            <tbody>
              {outcomes
                .sort((a, b) => a.round - b.round)
                .map((o) => (
                  <tr key={o.round} data-round={o.round} data-accepted={String(o.accepted)}>
                    <td>{o.round}</td>
                    <td class={o.accepted ? "ok" : o.accepted === false ? "bad" : ""}>
                      {o.accepted === undefined ? "pending" : o.accepted ? "accepted" : "rejected"}
                    </td>
                    <td>{o.trainLoss?.toFixed(4) ?? ""}</td>
                    <td>{o.holdoutAccuracy?.toFixed(3) ?? ""}</td>
                    <td style={{ whiteSpace: "normal" }}>{o.reason}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </section>
      <section>
        <h2>Log</h2>
        <ol class="log">
          {log.map((entry, i) => (
            <li key={i}>
              <b>{entry.phase}</b> {entry.round ? `r${entry.round} ` : ""}
              {entry.message}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}
