import { writeFile } from "node:fs/promises";
import { Metadata } from "@grpc/grpc-js";
import type { Command } from "commander";
import { readModelStream } from "../../client/node/coordinator-client.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { specToMessage } from "../../coordinator/jobs/job-messages.js";
import { bearer, unary } from "../../proto/clients.js";
import type { JobEvent__Output } from "../../proto/generated/fedproof/v1/JobEvent.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import type { ListJobsResponse__Output } from "../../proto/generated/fedproof/v1/ListJobsResponse.js";
import { emit, reportError } from "../output.js";
import { renderJob } from "../render-job.js";
import { registerJobProvenanceCommand } from "./job-provenance.js";
import { addJobSpecOptions, DATASET_SCHEMAS, jobSpecFromFlags } from "./job-spec-options.js";
import {
  clientToken,
  coordinatorClients,
  int,
  TOKEN_FLAG_HELP,
  type TokenFlags,
  withCommon,
  withCoordinatorAddress,
} from "./options.js";

async function tokenOf(options: TokenFlags): Promise<string> {
  return (await clientToken(options)) ?? "";
}

export function registerJobCommands(program: Command): void {
  const job = program
    .command("job")
    .description("create and follow federated jobs on a running coordinator");

  addJobSpecOptions(withCoordinatorAddress(withCommon(job.command("create"))))
    .description("create a job (needs the coordinator's bearer token)")
    .option(
      "--token-file <file>",
      "file holding the bearer token (default: $FEDPROOF_TOKEN, else $FEDPROOF_TOKEN_FILE)",
    )
    .option("--token <token>", TOKEN_FLAG_HELP)
    .option("--schema <dataset>", "data schema of a built-in dataset: synthetic | fashion-mnist")
    .action(async (options) => {
      const clients = coordinatorClients(options);
      try {
        let schema: (typeof DATASET_SCHEMAS)[keyof typeof DATASET_SCHEMAS] | undefined;
        if (options.schema) {
          schema = DATASET_SCHEMAS[options.schema as keyof typeof DATASET_SCHEMAS];
          if (!schema)
            throw new InvalidArgumentError(
              `unknown --schema ${options.schema}: expected ${Object.keys(DATASET_SCHEMAS).join(", ")}`,
            );
        }
        const spec = jobSpecFromFlags(
          options,
          schema ? { schema: { ...schema, featureShape: [...schema.featureShape] } } : {},
        );
        const token = await tokenOf(options);
        const created = await unary<JobInfo__Output>((cb) =>
          clients.jobs.createJob(
            { spec: specToMessage(spec) },
            token ? bearer(token) : new Metadata(),
            cb,
          ),
        );
        emit(options, created, () => renderJob(created));
      } catch (error) {
        reportError(error, options);
      } finally {
        clients.close();
      }
    });

  withCoordinatorAddress(withCommon(job.command("status")))
    .description("show a job and its rounds")
    .argument("<job-id>")
    .action(async (jobId: string, options) => {
      const clients = coordinatorClients(options);
      try {
        const info = await unary<JobInfo__Output>((cb) => clients.jobs.getJob({ jobId }, cb));
        emit(options, info, () => renderJob(info));
      } catch (error) {
        reportError(error, options);
      } finally {
        clients.close();
      }
    });

  withCoordinatorAddress(withCommon(job.command("list")))
    .description("list recent jobs")
    .option("--limit <n>", "how many", int("limit", 1), 20)
    .action(async (options) => {
      const clients = coordinatorClients(options);
      try {
        const list = await unary<ListJobsResponse__Output>((cb) =>
          clients.jobs.listJobs({ limit: options.limit }, cb),
        );
        emit(options, list, () => list.jobs.map(renderJob).join("\n\n") || "no jobs");
      } catch (error) {
        reportError(error, options);
      } finally {
        clients.close();
      }
    });

  withCoordinatorAddress(withCommon(job.command("watch")))
    .description("follow a job's rounds until it ends (JSON lines with --json)")
    .argument("<job-id>")
    .action(async (jobId: string, options) => {
      const clients = coordinatorClients(options);
      try {
        const stream = clients.jobs.watchJob({ jobId });
        let last: JobInfo__Output | undefined;
        for await (const event of stream as AsyncIterable<JobEvent__Output>) {
          last = event.job ?? last;
          if (options.json) process.stdout.write(`${JSON.stringify(event)}\n`);
          else
            process.stdout.write(
              event.type === "snapshot"
                ? `${renderJob(event.job!)}\n`
                : `${event.type}: ${event.message}\n`,
            );
        }
        process.exit(String(last?.state) === "JOB_STATE_COMPLETED" ? 0 : 2);
      } catch (error) {
        reportError(error, options);
      } finally {
        clients.close();
      }
    });

  withCoordinatorAddress(withCommon(job.command("model")))
    .description("download a job's model (hash checked) as model.bin plus manifest")
    .argument("<job-id>")
    .option("--round <n>", "the model after this round (default: current)", int("round", 0), 0)
    .requiredOption(
      "--out <file>",
      "where to write the model bytes; the manifest goes to FILE.manifest.json",
    )
    .action(async (jobId: string, options) => {
      const clients = coordinatorClients(options);
      try {
        const { header, bytes } = await readModelStream(
          clients.jobs.downloadModel({ jobId, round: options.round }),
        );
        await writeFile(options.out, bytes);
        await writeFile(
          `${options.out}.manifest.json`,
          `${JSON.stringify({ modelHash: header.modelHash, ...JSON.parse(header.manifestJson) }, null, 2)}\n`,
        );
        emit(
          options,
          { modelHash: header.modelHash, bytes: bytes.byteLength, out: options.out },
          () => `wrote ${options.out} (${bytes.byteLength} bytes, sha256 ${header.modelHash})`,
        );
      } catch (error) {
        reportError(error, options);
      } finally {
        clients.close();
      }
    });

  withCoordinatorAddress(withCommon(job.command("cancel")))
    .description("cancel a job (needs the bearer token)")
    .argument("<job-id>")
    .option(
      "--token-file <file>",
      "file holding the bearer token (default: $FEDPROOF_TOKEN, else $FEDPROOF_TOKEN_FILE)",
    )
    .option("--token <token>", TOKEN_FLAG_HELP)
    .option("--reason <text>", "why")
    .action(async (jobId: string, options) => {
      const clients = coordinatorClients(options);
      try {
        const token = await tokenOf(options);
        const info = await unary<JobInfo__Output>((cb) =>
          clients.jobs.cancelJob(
            { jobId, reason: options.reason ?? "" },
            token ? bearer(token) : new Metadata(),
            cb,
          ),
        );
        emit(options, info, () => renderJob(info));
      } catch (error) {
        reportError(error, options);
      } finally {
        clients.close();
      }
    });

  registerJobProvenanceCommand(job);
}
