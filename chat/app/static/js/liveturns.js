// The open chat's turns that have not ended yet (§4.3). A message sent while a reply is
// written queues a second turn, so there can be several; the page must know which one
// runs: Stop and Esc stop the reply being written now, not a turn waiting behind it.

export class LiveTurns {
  constructor() {
    this.status = new Map(); // id -> "queued" | "running", oldest first
    this.news = new Map(); // id -> the last `turn` event heard of it (its phase)
  }

  /** Record a turn's status (and its `turn` event, when there is one). */
  mark(id, status, news = null) {
    this.status.set(id, status);
    if (news) this.news.set(id, news);
  }

  statusOf(id) {
    return this.status.get(id);
  }

  end(id) {
    this.status.delete(id);
    this.news.delete(id);
  }

  clear() {
    this.status.clear();
    this.news.clear();
  }

  /** The running turn, else the oldest queued one (it runs next); null when none. */
  active() {
    let next = null;
    for (const [id, status] of this.status) {
      if (status === "running") return id;
      if (!next) next = id;
    }
    return next;
  }

  /** The last `turn` event of a turn that runs, for its phase; null otherwise. */
  runningNews(id) {
    return this.status.get(id) === "running" ? this.news.get(id) || null : null;
  }

  /** How many turns wait queued besides `id`. */
  queuedBesides(id) {
    let n = 0;
    for (const [other, status] of this.status) if (other !== id && status === "queued") n += 1;
    return n;
  }
}
