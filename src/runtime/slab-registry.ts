// The slabs alive in this thread's buffer pools, announced to observers: the thread's io_uring engine
// registers each one with its ring as a fixed buffer, and unregisters it before it is given back.
// (No addon import here: the engine imports this without depending on the addon loading.)

/** Told about every slab of this thread's pools: added once it exists, removed before it is discarded. */
export interface SlabObserver {
  slabAdded(slab: ArrayBuffer): void;
  slabRemoved(slab: ArrayBuffer): void;
}

// Per thread (module state is per worker thread).
const liveSlabs = new Set<ArrayBuffer>();
const observers = new Set<SlabObserver>();

/** Starts telling `o` about this thread's slabs (those alive now first). Returns the way to stop. */
export function watchSlabs(o: SlabObserver): () => void {
  observers.add(o);
  for (const s of liveSlabs) o.slabAdded(s);
  return () => void observers.delete(o);
}

/** A pool made a slab (aligned slabs only: those are the ones worth registering for I/O). */
export function slabCreated(slab: ArrayBuffer): void {
  liveSlabs.add(slab);
  for (const o of observers) o.slabAdded(slab);
}

/** A pool is about to discard a slab. */
export function slabDestroyed(slab: ArrayBuffer): void {
  if (!liveSlabs.delete(slab)) return;
  for (const o of observers) o.slabRemoved(slab);
}
