package io.kvgate.evaluator.runtime;

/**
 * One greedy answer to a query over a compressed context.
 *
 * @param ids               generated ids (the stop token excluded)
 * @param peakEntriesPerHead most entries per evictable (layer, head) held at any step, on average
 * @param budgetPerHead     the decode budget B it ran under
 * @param decodeEvictions   how many decode-time evictions ran
 * @param decodeMillis      wall time of the query prefill and all decode steps
 * @param startMillis       the part of it up to the second generated token: the query's forward, the first one-token
 *                          step (a CUDA-graph capture on a GPU) and any re-layout they needed; NaN when fewer than
 *                          three steps ran
 * @param finalBytes        KV bytes held at the end
 */
public record Generation(int[] ids, double peakEntriesPerHead, double budgetPerHead, int decodeEvictions,
                         double decodeMillis, double startMillis, long finalBytes) {
    public double millisPerToken() {
        return ids.length == 0 ? 0 : decodeMillis / ids.length;
    }

    /** Time per token after the start (steady-state decode steps); {@link #millisPerToken} when there are none. */
    public double millisPerLaterToken() {
        return ids.length > 2 && !Double.isNaN(startMillis) ? (decodeMillis - startMillis) / (ids.length - 2) : millisPerToken();
    }
}
