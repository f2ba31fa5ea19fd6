import * as grpc from "@grpc/grpc-js";
import type { FedproofClients } from "../../../proto/clients.js";
import { CHANNEL_OPTIONS, loadFedproofProto } from "../../../proto/load.js";

const JOIN_PATH = "/fedproof.v1.Coordinator/Join";

/**
 * One gRPC channel (one HTTP/2 connection) per coordinator address for every virtual device
 * of a process: a thousand channels would cost a thousand connections, resolvers and
 * keepalive timers for no gain in realism, since each device still has its own calls,
 * session and task stream on it.
 */
export class SharedChannels {
  private readonly channels = new Map<string, grpc.Channel>();

  constructor(
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {}

  channel(address: string): grpc.Channel {
    let channel = this.channels.get(address);
    if (!channel) {
      channel = new grpc.Channel(address, this.credentials, CHANNEL_OPTIONS);
      this.channels.set(address, channel);
    }
    return channel;
  }

  /** Clients of one device over the shared channel, every call passing through `link`. */
  clientsFor(address: string, link: VirtualLink): FedproofClients {
    const proto = loadFedproofProto();
    const options: grpc.ClientOptions = {
      ...CHANNEL_OPTIONS,
      channelOverride: this.channel(address),
      interceptors: [link.interceptor],
    };
    return {
      coordinator: new proto.fedproof.v1.Coordinator(address, this.credentials, options),
      jobs: new proto.fedproof.v1.Jobs(address, this.credentials, options),
      provenance: new proto.fedproof.v1.Provenance(address, this.credentials, options),
      // The channel is shared: a device replacing its clients (a reconnect) must not close it.
      close() {},
    };
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}

/**
 * A virtual device's network link. `drop(offlineMs)` is what a phone losing its network does:
 * every call in flight (the task stream, a model download, an upload) ends with UNAVAILABLE,
 * the coordinator sees its streams reset, and calls made while the link is down fail the same
 * way, so the device's own reconnect-with-backoff brings it back (a signed re-Join under its
 * id) once the link is up again. The link also counts the device's successful Joins.
 */
export class VirtualLink {
  private readonly calls = new Set<grpc.InterceptingCall>();
  private downUntilMs = 0;
  /** Successful Joins: the first enrolment and every rejoin. */
  joins = 0;
  /** When the first Join succeeded (performance.now()), for the fleet's join rate. */
  firstJoinAtMs?: number;
  drops = 0;
  /** Called once, when the first Join succeeds. */
  onFirstJoin?: () => void;

  get isDown(): boolean {
    return performance.now() < this.downUntilMs;
  }

  drop(offlineMs: number): void {
    this.drops++;
    this.downUntilMs = performance.now() + offlineMs;
    for (const call of [...this.calls]) {
      call.cancelWithStatus(grpc.status.UNAVAILABLE, "simulated churn: the device's link dropped");
    }
    this.calls.clear();
  }

  readonly interceptor: grpc.Interceptor = (options, nextCall) => {
    const isJoin = options.method_definition.path === JOIN_PATH;
    const call: grpc.InterceptingCall = new grpc.InterceptingCall(
      nextCall(options),
      new grpc.RequesterBuilder()
        .withStart((metadata, _listener, next) => {
          next(
            metadata,
            new grpc.ListenerBuilder()
              .withOnReceiveStatus((status, nextStatus) => {
                this.calls.delete(call);
                if (isJoin && status.code === grpc.status.OK) {
                  this.joins++;
                  if (this.firstJoinAtMs === undefined) {
                    this.firstJoinAtMs = performance.now();
                    this.onFirstJoin?.();
                  }
                }
                nextStatus(status);
              })
              .build(),
          );
          if (this.isDown) {
            call.cancelWithStatus(
              grpc.status.UNAVAILABLE,
              "simulated churn: the device is offline",
            );
          } else {
            this.calls.add(call);
          }
        })
        .build(),
    );
    return call;
  };
}
