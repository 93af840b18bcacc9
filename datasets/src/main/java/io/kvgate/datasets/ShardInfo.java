package io.kvgate.datasets;

/**
 * A finished shard, as recorded in its sidecar {@code shard-NNNNN/shard.json} and in the manifest.
 *
 * @param name          directory name, {@code shard-NNNNN}
 * @param index         shard number
 * @param configKey     digest of everything that decides the shard's content (model fingerprint, corpus,
 *                      shaping, sampling, scoring); a restart skips the shard only when it matches
 * @param documents     document indices held (collection order)
 * @param tokens        rows per layer file (sampled tokens)
 * @param heldOutTokens of which held out
 * @param contextTokens context tokens of its documents before sampling
 */
public record ShardInfo(String name, int index, String configKey, int[] documents, long tokens, long heldOutTokens,
                        long contextTokens) {
    public static final String SIDECAR = "shard.json";

    public static String nameOf(int index) {
        return String.format("shard-%05d", index);
    }
}
