import type { RedisClient } from "../store/redis.js";

type Listener = (message: string) => void;

/**
 * One Redis subscriber connection shared by every open stream of this coordinator
 * (device task streams, job watchers): channels are subscribed while someone listens. On a
 * Redis Cluster the subscriber is a `Cluster` too: a PUBLISH on any node reaches every node,
 * so it listens on one node of its choosing and follows it if that node goes away.
 */
export class Subscriptions {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly subscriber: RedisClient) {
    subscriber.on("message", (channel: string, message: string) => {
      for (const listener of this.listeners.get(channel) ?? []) listener(message);
    });
  }

  async subscribe(channel: string, listener: Listener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await this.subscriber.subscribe(channel);
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(channel);
        await this.subscriber.unsubscribe(channel).catch(() => {});
      }
    };
  }
}
