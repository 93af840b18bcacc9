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

    /** The sidecar of a finished shard directory, if there is a readable one. */
    public static java.util.Optional<ShardInfo> readSidecar(java.nio.file.Path shardDir) {
        java.nio.file.Path f = shardDir.resolve(SIDECAR);
        if (!java.nio.file.Files.isRegularFile(f)) return java.util.Optional.empty();
        try {
            return java.util.Optional.of(Json.read(f, ShardInfo.class));
        } catch (io.kvgate.models.KvgateException e) {
            return java.util.Optional.empty(); // unreadable sidecar: the shard is redone
        }
    }

    /** True for finished shard directory names ({@code shard-NNNNN}, not temp leftovers). */
    public static boolean isShardName(String name) {
        return name.matches("shard-\\d{5,}");
    }

    public static String nameOf(int index) {
        return String.format("shard-%05d", index);
    }
}
