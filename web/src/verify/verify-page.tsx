import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import { useEffect, useState } from "preact/hooks";
import { renderVerificationReport } from "../../../verifier/report.js";
import type { VerificationReport } from "../../../verifier/verify-model.js";
import { api } from "../api.js";
import { JOBS } from "../rpc/coordinator-api.js";
import { verifyInBrowser } from "./verify-in-browser.js";

interface Picked {
  name: string;
  bytes: Uint8Array;
  sha256: string;
}

/**
 * Anyone handed a model file: drop it here, and the page checks it as `fedproof verify` does,
 * against the chain (through the JSON-RPC URL below) and the coordinator's provenance bundle.
 */
export function VerifyPage(props: { jobId: string; rpcUrl: string; registry: string }) {
  const [jobId, setJobId] = useState(props.jobId);
  const [rpcUrl, setRpcUrl] = useState(props.rpcUrl || "http://127.0.0.1:8545");
  const [registry, setRegistry] = useState(props.registry);
  const [file, setFile] = useState<Picked>();
  const [step, setStep] = useState("");
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<{ report: VerificationReport; text: string }>();
  const [error, setError] = useState("");
  const [dragging, setDragging] = useState(false);

  // The registry the coordinator names for the job, as a starting point the verifier can replace.
  useEffect(() => {
    if (!jobId || props.registry) return;
    api.unary<{ registry: string }>(JOBS, "GetJob", { jobId }).then(
      (info) => setRegistry((current) => current || info.registry),
      () => {},
    );
  }, [jobId]);

  const pick = async (picked: File | undefined) => {
    if (!picked) return;
    const bytes = new Uint8Array(await picked.arrayBuffer());
    setFile({ name: picked.name, bytes, sha256: bytesToHex(sha256(bytes)) });
    setResult(undefined);
    setError("");
  };

  const verify = async () => {
    if (!file) return;
    setRunning(true);
    setResult(undefined);
    setError("");
    try {
      const { report } = await verifyInBrowser({
        modelBytes: file.bytes,
        jobId: jobId.trim(),
        rpcUrl: rpcUrl.trim(),
        registry: registry.trim(),
        onStep: setStep,
      });
      setResult({ report, text: renderVerificationReport(report, file.name) });
      setStep("");
    } catch (failure) {
      setError((failure as Error).message ?? String(failure));
    } finally {
      setRunning(false);
    }
  };

  const report = result?.report;
  return (
    <>
      <section>
        <h2>Verify a model</h2>
        <label
          class={`drop${dragging ? " dragging" : ""}`}
          id="drop"
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            void pick(e.dataTransfer?.files[0]);
          }}
        >
          <input
            type="file"
            id="model-file"
            onChange={(e) => void pick((e.target as HTMLInputElement).files?.[0])}
          />
          {file ? (
            <span>
              <b>{file.name}</b> · {file.bytes.byteLength} bytes
              <br />
              <span class="mono" id="model-hash">
                sha256 {file.sha256}
              </span>
            </span>
          ) : (
            <span>Drop a model file here, or pick one</span>
          )}
        </label>
        <div class="fields">
          <label>
            job
            <input
              id="verify-job"
              value={jobId}
              onInput={(e) => setJobId((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            chain JSON-RPC URL
            <input
              id="verify-rpc"
              value={rpcUrl}
              onInput={(e) => setRpcUrl((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            registry
            <input
              id="verify-registry"
              class="mono"
              value={registry}
              placeholder="as the coordinator names it"
              onInput={(e) => setRegistry((e.target as HTMLInputElement).value)}
            />
          </label>
        </div>
        <p class="muted">
          The registry address is what the check rests on: compare it with the one the job's
          researchers published. Proofs are checked with keys read from the job's proving keys,
          which must hash to the key the job pinned on chain.
        </p>
        <button
          type="button"
          id="verify"
          onClick={verify}
          disabled={!file || !jobId.trim() || !rpcUrl.trim() || running}
        >
          {running ? "Verifying…" : "Verify"}
        </button>
        {step ? <p class="muted">{step}</p> : null}
        {error ? (
          <p class="bad" id="verify-error">
            {error}
          </p>
        ) : null}
      </section>
      {report && result ? (
        <section id="verify-result" data-ok={String(report.ok)}>
          <h2 id="verify-verdict" class={report.ok ? "ok" : "bad"}>
            {report.ok
              ? `verified: ${report.rounds.length} round${report.rounds.length === 1 ? "" : "s"}, ${report.proofs.valid} proofs`
              : report.mismatches.length > 0
                ? `${report.mismatches.length} mismatch${report.mismatches.length === 1 ? "" : "es"}: ${report.mismatches[0]!.message}`
                : `not verified: ${report.unchecked[0] ?? "the proofs were not checked"}`}
          </h2>
          <pre id="verify-report">{result.text}</pre>
        </section>
      ) : null}
    </>
  );
}
