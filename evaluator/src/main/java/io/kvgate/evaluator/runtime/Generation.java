package io.kvgate.evaluator.runtime;

/**
 * One greedy answer to a query over a compressed context.
 *
 * @param ids               generated ids (the stop token excluded)
 * @param peakEntriesPerHead most entries per evictable (layer, head) held at any step, on average
 * @param budgetPerHead     the decode budget B it ran under
 * @param decodeEvictions   how many decode-time evictions ran
 * @param decodeMillis      wall time of the query prefill and all decode steps
 * @param finalBytes        KV bytes held at the end
 */
public record Generation(int[] ids, double peakEntriesPerHead, double budgetPerHead, int decodeEvictions,
                         double decodeMillis, long finalBytes) {
    public double millisPerToken() {
        return ids.length == 0 ? 0 : decodeMillis / ids.length;
    }
}
