import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { JOBS } from "../rpc/coordinator-api.js";
import { RoundChart } from "./chart.js";

interface RoundSummary {
  round: number;
  state: string;
  selected: number;
  accepted: number;
  rejected: number;
  late: number;
  federatedAccuracy: number;
  federatedLoss: number;
  epsilon: number;
  anchorTx: string;
  proofsVerified: number;
  proofsRejected: number;
  reason: string;
  modelHash: string;
}

interface JobInfo {
  jobId: string;
  state: string;
  reason: string;
  currentRound: number;
  onlineDevices: number;
  registry: string;
  chainJobId: string;
  currentModelHash: string;
  spec: { name: string; model: string; rounds: number; clientsPerRound: number; proofs: boolean };
  rounds: RoundSummary[];
}

const short = (state: string) => state.replace(/^(JOB|ROUND)_STATE_/, "").toLowerCase();

/** Polls while mounted; errors show instead of the data, and the next poll retries. */
function usePoll<T>(load: () => Promise<T>, deps: unknown[], everyMs = 2_000) {
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let stopped = false;
    const tick = () =>
      load().then(
        (next) => {
          if (stopped) return;
          setValue(next);
          setError(undefined);
        },
        (failure: Error) => !stopped && setError(failure.message),
      );
    void tick();
    const timer = setInterval(tick, everyMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, deps);
  return { value, error };
}

/** Researchers and verifiers: jobs, their rounds and curves, devices, proofs and anchors. */
export function Dashboard(props: { jobId: string }) {
  const [token, setToken] = useState(() => sessionStorage.getItem("fedproof-token") ?? "");
  const [notice, setNotice] = useState("");
  const jobs = usePoll(
    () => api.unary<{ jobs: JobInfo[] }>(JOBS, "ListJobs", { limit: 50 }).then((r) => r.jobs),
    [],
    3_000,
  );
  const selected = props.jobId || jobs.value?.[0]?.jobId || "";
  const job = usePoll(
    () =>
      selected
        ? api.unary<JobInfo>(JOBS, "GetJob", { jobId: selected })
        : Promise.resolve(undefined),
    [selected],
  );
  const auth = { metadata: { authorization: `Bearer ${token}` } };
  const saveToken = (value: string) => {
    setToken(value);
    sessionStorage.setItem("fedproof-token", value);
  };

  const createJob = async (form: HTMLFormElement) => {
    const data = new FormData(form);
    try {
      const created = await api.unary<JobInfo>(
        JOBS,
        "CreateJob",
        {
          spec: {
            name: String(data.get("name") || "web job"),
            model: String(data.get("model")),
            schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
            rounds: Number(data.get("rounds")),
            clientsPerRound: Number(data.get("clients")),
            minClients: Number(data.get("minClients")),
            roundDeadlineSeconds: Number(data.get("deadline")),
            clipNorm: 5,
            proofs: data.get("proofs") === "on",
          },
        },
        auth,
      );
      setNotice(`created ${created.jobId}`);
      location.hash = `#/dashboard?job=${created.jobId}`;
    } catch (error) {
      setNotice((error as Error).message);
    }
  };

  const cancel = async () => {
    try {
      await api.unary(
        JOBS,
        "CancelJob",
        { jobId: selected, reason: "cancelled from the dashboard" },
        auth,
      );
      setNotice(`cancelled ${selected}`);
    } catch (error) {
      setNotice((error as Error).message);
    }
  };

  const info = job.value;
  const rounds = info?.rounds ?? [];
  const xs = rounds.map((r) => r.round);
  const sum = (pick: (r: RoundSummary) => number) => rounds.reduce((n, r) => n + pick(r), 0);

  return (
    <>
      <section>
        <h2>Jobs</h2>
        {jobs.error ? <p class="bad">{jobs.error}</p> : null}
        <ul class="jobs" id="jobs">
          {(jobs.value ?? []).map((j) => (
            <li key={j.jobId} data-job={j.jobId}>
              <a href={`#/dashboard?job=${j.jobId}`} class="mono">
                {j.jobId}
              </a>{" "}
              <span class="muted">
                {short(j.state)} · round {j.currentRound}/{j.spec.rounds} · {j.onlineDevices} online
              </span>
            </li>
          ))}
          {jobs.value?.length === 0 ? <li class="muted">no jobs yet</li> : null}
        </ul>
      </section>
      {info ? (
        <section id="job" data-state={info.state}>
          <h2>
            Job <span class="mono">{info.jobId}</span>
          </h2>
          <div class="grid">
            <Stat label="state" value={short(info.state)} />
            <Stat label="round" value={`${info.currentRound} / ${info.spec.rounds}`} />
            <Stat label="devices online" value={String(info.onlineDevices)} id="online" />
            <Stat
              label="updates proven / proof rejected"
              value={`${sum((r) => r.proofsVerified)} / ${sum((r) => r.proofsRejected)}`}
            />
            <Stat
              label="model"
              value={`${info.spec.model}${info.spec.proofs ? " · proofs" : ""}`}
            />
          </div>
          {info.reason ? <p class="muted">{info.reason}</p> : null}
          <p class="muted">
            <a href={`#/device?job=${info.jobId}`}>Join this job from this browser</a>
            {info.registry ? (
              <>
                {" · "}
                <a href={`#/verify?job=${info.jobId}`}>Verify a model of this job</a>
              </>
            ) : null}
          </p>
          <h3>Rounds</h3>
          <RoundChart
            title="updates per round"
            rounds={xs}
            series={[
              { label: "accepted", color: "#137333", values: rounds.map((r) => r.accepted) },
              { label: "rejected", color: "#b3261e", values: rounds.map((r) => r.rejected) },
              { label: "late", color: "#f29900", values: rounds.map((r) => r.late) },
            ]}
          />
          <RoundChart
            title="federated held-out accuracy"
            rounds={xs}
            series={[
              {
                label: "accuracy",
                color: "#1a73e8",
                values: rounds.map((r) => r.federatedAccuracy || null),
              },
            ]}
          />
          <RoundChart
            title="federated held-out loss"
            rounds={xs}
            series={[
              {
                label: "loss",
                color: "#e8710a",
                values: rounds.map((r) => (r.federatedAccuracy ? r.federatedLoss : null)),
              },
            ]}
          />
          {rounds.some((r) => r.epsilon > 0) ? (
            <RoundChart
              title="privacy spent (ε)"
              rounds={xs}
              series={[
                { label: "ε", color: "#9334e6", values: rounds.map((r) => r.epsilon || null) },
              ]}
            />
          ) : (
            <p class="muted" id="no-dp">
              no central differential privacy: ε is not accounted
            </p>
          )}
          <div class="scroll">
            <table id="rounds">
              <thead>
                <tr>
                  <th>round</th>
                  <th>state</th>
                  <th>sel.</th>
                  <th>acc.</th>
                  <th>rej.</th>
                  <th>late</th>
                  <th>accuracy</th>
                  <th>ε</th>
                  <th>proven ✓/✗</th>
                  <th>anchor tx</th>
                </tr>
              </thead>
              <tbody>
                {rounds.map((r) => (
                  <tr key={r.round} data-round={r.round} data-round-state={r.state}>
                    <td>{r.round}</td>
                    <td>{short(r.state)}</td>
                    <td>{r.selected}</td>
                    <td class="ok">{r.accepted}</td>
                    <td class="bad">{r.rejected}</td>
                    <td>{r.late}</td>
                    <td>{r.federatedAccuracy ? r.federatedAccuracy.toFixed(3) : ""}</td>
                    <td>{r.epsilon ? r.epsilon.toFixed(2) : ""}</td>
                    <td>
                      {r.proofsVerified}/{r.proofsRejected}
                    </td>
                    <td class="mono">
                      {r.anchorTx ? `${r.anchorTx.slice(0, 10)}…${r.anchorTx.slice(-6)}` : ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h3>Anchors</h3>
          {info.registry ? (
            <p class="mono">
              registry {info.registry} · chain job {info.chainJobId}
            </p>
          ) : (
            <p class="muted">this coordinator anchors no rounds on a chain</p>
          )}
          <p class="mono muted">current model {info.currentModelHash}</p>
        </section>
      ) : job.error ? (
        <section class="bad">{job.error}</section>
      ) : null}
      <section>
        <h2>Operator</h2>
        <div class="row">
          <input
            type="password"
            aria-label="bearer token"
            placeholder="bearer token"
            value={token}
            onInput={(e) => saveToken((e.target as HTMLInputElement).value)}
            style={{ flex: "1 1 12rem" }}
          />
          <button type="button" class="secondary" onClick={cancel} disabled={!selected || !token}>
            Cancel job
          </button>
        </div>
        <form
          class="row"
          style={{ marginTop: "0.5rem" }}
          onSubmit={(e) => {
            e.preventDefault();
            void createJob(e.currentTarget);
          }}
        >
          <input name="name" placeholder="name" style={{ flex: "1 1 8rem" }} />
          <select name="model" aria-label="model">
            <option value="logreg">logreg</option>
            <option value="mlp">mlp</option>
          </select>
          <label>
            rounds <input name="rounds" type="number" min="1" value="3" style={{ width: "4rem" }} />
          </label>
          <label>
            clients{" "}
            <input name="clients" type="number" min="1" value="2" style={{ width: "4rem" }} />
          </label>
          <label>
            min{" "}
            <input name="minClients" type="number" min="1" value="1" style={{ width: "4rem" }} />
          </label>
          <label>
            deadline s{" "}
            <input name="deadline" type="number" min="5" value="60" style={{ width: "5rem" }} />
          </label>
          <label>
            <input name="proofs" type="checkbox" /> proofs
          </label>
          <button type="submit" disabled={!token}>
            Create job
          </button>
        </form>
        {notice ? (
          <p class="muted" id="notice">
            {notice}
          </p>
        ) : null}
      </section>
    </>
  );
}

function Stat(props: { label: string; value: string; id?: string }) {
  return (
    <div class="stat" id={props.id}>
      <b>{props.value}</b>
      <span>{props.label}</span>
    </div>
  );
}
