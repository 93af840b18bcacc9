package io.kvgate.datasets;

import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;
import org.apache.parquet.hadoop.ParquetWriter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes one shard: a directory {@code shard-NNNNN/} holding one Parquet file per gated layer plus the
 * {@code shard.json} sidecar. Everything goes into {@code shard-NNNNN.tmp-PID/} first and is renamed into
 * place by {@link #commit}; closing without committing deletes the temp directory, so an interrupted shard
 * never looks finished (readers and resuming collectors ignore temp names).
 */
public final class FeatureShardWriter implements AutoCloseable {
    /** Row groups are buffered in memory per layer file; keep them moderate (one writer per gated layer is open). */
    private static final long ROW_GROUP_BYTES = 16L << 20;

    private final Path target;
    private final Path temp;
    private final ShardLayout layout;
    private final int index;
    private final Map<Integer, ParquetWriter<FeatureShardSchema.Row>> writers = new LinkedHashMap<>();
    private final Map<Integer, long[]> counts = new LinkedHashMap<>(); // layer -> {rows, heldOut}
    private boolean committed;

    private FeatureShardWriter(Path datasetDir, int index, ShardLayout layout) throws IOException {
        this.layout = layout;
        this.index = index;
        this.target = datasetDir.resolve(ShardInfo.nameOf(index));
        this.temp = AtomicFiles.tempSibling(target);
        AtomicFiles.deleteRecursively(temp);
        Files.createDirectories(temp);
        for (int layer : layout.layers()) {
            var footer = FeatureShardSchema.footer(layout, layer);
            writers.put(layer, ParquetIo.writer(FeatureShardSchema.layerPath(temp, layer),
                    FeatureShardSchema.schema(layout), footer, FeatureShardSchema::write, ROW_GROUP_BYTES));
            counts.put(layer, new long[2]);
        }
    }

    /** Starts shard {@code index} of the feature directory {@code datasetDir} (created if needed). */
    public static FeatureShardWriter create(Path datasetDir, int index, ShardLayout layout) {
        try {
            return new FeatureShardWriter(datasetDir, index, layout);
        } catch (IOException e) {
            throw new KvgateException("cannot create shard " + ShardInfo.nameOf(index) + " in " + datasetDir + ": " + e.getMessage(), e);
        }
    }

    public Path directory() {
        return target;
    }

    /** Appends one row; {@code x} is already encoded in the layout's hidden dtype ({@link HiddenDtype#encode}). */
    public void write(int layer, int doc, int position, boolean heldOut, byte[] x, float[] target) {
        ParquetWriter<FeatureShardSchema.Row> w = writers.get(layer);
        if (w == null) throw new IllegalArgumentException("layer " + layer + " is not a gated layer of this shard");
        if (x.length != layout.xBytes()) throw new IllegalArgumentException("x has " + x.length + " bytes, expected " + layout.xBytes());
        if (target.length != layout.kvHeads()) throw new IllegalArgumentException("target has " + target.length + " values, expected " + layout.kvHeads());
        ByteBuffer t = ByteBuffer.allocate(layout.targetBytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : target) t.putFloat(v);
        try {
            w.write(new FeatureShardSchema.Row(doc, position, layer, heldOut, x, t.array()));
        } catch (IOException e) {
            throw new KvgateException("cannot write shard " + temp + ": " + e.getMessage(), e);
        }
        long[] c = counts.get(layer);
        c[0]++;
        if (heldOut) c[1]++;
    }

    /** Appends one row from float32 hidden values (encoded to the layout's dtype here). */
    public void write(int layer, int doc, int position, boolean heldOut, float[] x, float[] target) {
        if (x.length != layout.hiddenSize()) throw new IllegalArgumentException("x has " + x.length + " values, expected " + layout.hiddenSize());
        write(layer, doc, position, heldOut, layout.hiddenDtype().encode(x, 0, x.length), target);
    }

    /**
     * Closes every file, writes the sidecar and renames the temp directory into place (replacing an older
     * shard of the same number). Every layer must have received the same rows.
     */
    public ShardInfo commit(String configKey, int[] documents, long contextTokens) {
        long[] first = counts.get(layout.layers()[0]);
        for (var e : counts.entrySet()) {
            if (e.getValue()[0] != first[0] || e.getValue()[1] != first[1])
                throw new IllegalStateException("shard " + index + ": layer " + e.getKey() + " has " + e.getValue()[0]
                        + " rows, layer " + layout.layers()[0] + " has " + first[0]);
        }
        ShardInfo info = new ShardInfo(ShardInfo.nameOf(index), index, configKey, documents.clone(), first[0], first[1], contextTokens);
        try {
            closeWriters();
            Json.write(temp.resolve(ShardInfo.SIDECAR), info);
            if (Files.exists(target)) AtomicFiles.deleteRecursively(target);
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target);
            }
        } catch (IOException e) {
            throw new KvgateException("cannot finish shard " + target + ": " + e.getMessage(), e);
        }
        committed = true;
        return info;
    }

    private void closeWriters() throws IOException {
        IOException first = null;
        for (ParquetWriter<?> w : writers.values()) {
            try {
                w.close();
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        writers.clear();
        if (first != null) throw first;
    }

    /** Without a commit: abandons the shard and deletes its temp directory. */
    @Override
    public void close() {
        if (committed) return;
        try {
            closeWriters();
        } catch (IOException | RuntimeException ignored) {
            // abandoned anyway
        }
        try {
            AtomicFiles.deleteRecursively(temp);
        } catch (IOException ignored) {
            // a leftover temp name is skipped by readers and removed by the next collection
        }
    }
}
