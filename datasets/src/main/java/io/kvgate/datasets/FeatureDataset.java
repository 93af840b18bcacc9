package io.kvgate.datasets;

import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.Converter;
import org.apache.parquet.io.api.GroupConverter;
import org.apache.parquet.io.api.PrimitiveConverter;
import org.apache.parquet.io.api.RecordMaterializer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A directory of collected Parquet feature shards plus their manifest.json, as written by collection.
 * Reading streams shard by shard, so memory stays bounded by one shard's layer file. Temp leftovers of an
 * interrupted collection ({@code shard-NNNNN.tmp-PID}) are ignored; only shards listed in the manifest are read.
 */
public final class FeatureDataset {
    private final Path dir;
    private final FeatureManifest manifest;

    private FeatureDataset(Path dir, FeatureManifest manifest) {
        this.dir = dir;
        this.manifest = manifest;
    }

    public static FeatureDataset open(Path dir) {
        Path file = dir.resolve(FeatureManifest.FILE);
        if (!Files.isRegularFile(file))
            throw new KvgateException(dir + ": no " + FeatureManifest.FILE + " (not a feature directory, or its collection has not finished)");
        FeatureManifest m = Json.read(file, FeatureManifest.class);
        if (m.formatVersion() < 1 || m.formatVersion() > FeatureShardSchema.FORMAT_VERSION)
            throw new KvgateException(file + ": format_version " + m.formatVersion() + " is not supported (this kvgate reads up to "
                    + FeatureShardSchema.FORMAT_VERSION + ")");
        if (m.gatedLayers() == null || m.gatedLayers().length == 0) throw new KvgateException(file + ": no gated_layers");
        m.dtype(); // validates hidden_dtype
        for (ShardInfo s : m.shards()) {
            Path shard = dir.resolve(s.name());
            if (!Files.isDirectory(shard)) throw new KvgateException(dir + ": shard " + s.name() + " listed in the manifest is missing");
        }
        return new FeatureDataset(dir, m);
    }

    public Path dir() {
        return dir;
    }

    public FeatureManifest manifest() {
        return manifest;
    }

    /** Shard names in order (so work can be split across processes, one shard each). */
    public List<String> shardNames() {
        return manifest.shards().stream().map(ShardInfo::name).toList();
    }

    /** Streams every row of one gated layer, one batch per shard. */
    public void forEachBatch(int layer, Consumer<FeatureBatch> sink) {
        for (String shard : shardNames()) sink.accept(read(shard, layer));
    }

    /** All rows of one layer in one shard. */
    public FeatureBatch read(String shard, int layer) {
        ShardLayout layout = manifest.layout();
        if (!layout.hasLayer(layer))
            throw new KvgateException(dir + ": layer " + layer + " has no features (gated layers: " + java.util.Arrays.toString(layout.layers()) + ")");
        return readLayerFile(FeatureShardSchema.layerPath(dir.resolve(shard), layer), layout, layer);
    }

    /** Reads one layer file; exposed for tests and tools that read a single shard. */
    public static FeatureBatch readLayerFile(Path file, ShardLayout layout, int layer) {
        if (!Files.isRegularFile(file)) throw new KvgateException(file + ": missing shard file");
        long rows;
        try (ParquetFileReader footer = ParquetIo.openFooter(file)) {
            rows = footer.getRecordCount();
            Map<String, String> meta = footer.getFileMetaData().getKeyValueMetaData();
            expect(file, meta, FeatureShardSchema.META_HIDDEN_DTYPE, layout.hiddenDtype().id());
            expect(file, meta, FeatureShardSchema.META_HIDDEN_SIZE, String.valueOf(layout.hiddenSize()));
            expect(file, meta, FeatureShardSchema.META_KV_HEADS, String.valueOf(layout.kvHeads()));
            expect(file, meta, FeatureShardSchema.META_LAYER, String.valueOf(layer));
        } catch (IOException | RuntimeException e) {
            if (e instanceof KvgateException k) throw k;
            throw new KvgateException(file + ": not a readable Parquet shard (" + e.getMessage() + ")", e);
        }
        if (rows > Integer.MAX_VALUE / Math.max(layout.hiddenSize(), 1))
            throw new KvgateException(file + ": " + rows + " rows is too many for one batch; collect with fewer documents per shard");
        BatchMaterializer m = new BatchMaterializer(layout, (int) rows);
        try (ParquetReader<Integer> reader = ParquetIo.reader(file, s -> s, s -> m)) {
            while (reader.read() != null) {
                // rows land in the materializer's arrays
            }
        } catch (IOException | RuntimeException e) {
            throw new KvgateException(file + ": cannot read rows (" + e.getMessage() + ")", e);
        }
        if (m.row != rows) throw new KvgateException(file + ": footer says " + rows + " rows, read " + m.row);
        return new FeatureBatch(layer, m.row, layout.hiddenSize(), layout.kvHeads(), m.x, m.target, m.heldOut,
                m.doc, m.position);
    }

    private static void expect(Path file, Map<String, String> meta, String key, String want) {
        String got = meta.get(key);
        if (!want.equals(got))
            throw new KvgateException(file + ": footer " + key + " is " + got + ", the manifest says " + want);
    }

    /** Removes temp leftovers ({@code *.tmp-PID}) of processes that no longer run. */
    public static void removeTempLeftovers(Path dir) {
        if (!Files.isDirectory(dir)) return;
        List<Path> stale = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(AtomicFiles::isTempName).forEach(p -> {
                String name = p.getFileName().toString();
                long pid = Long.parseLong(name.substring(name.lastIndexOf('-') + 1));
                boolean alive = pid != ProcessHandle.current().pid() && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
                if (!alive) stale.add(p);
            });
            for (Path p : stale) AtomicFiles.deleteRecursively(p);
        } catch (IOException e) {
            throw new KvgateException(dir + ": cannot clean up interrupted shards (" + e.getMessage() + ")", e);
        }
    }

    /** Decodes rows straight into the batch arrays (no per-row objects). */
    private static final class BatchMaterializer extends RecordMaterializer<Integer> {
        final float[] x;
        final float[] target;
        final boolean[] heldOut;
        final int[] doc;
        final int[] position;
        int row;
        private final ShardLayout layout;
        private final GroupConverter root;

        BatchMaterializer(ShardLayout layout, int rows) {
            this.layout = layout;
            x = new float[rows * layout.hiddenSize()];
            target = new float[rows * layout.kvHeads()];
            heldOut = new boolean[rows];
            doc = new int[rows];
            position = new int[rows];
            Converter[] columns = {
                    intColumn(v -> doc[row] = v),
                    intColumn(v -> position[row] = v),
                    intColumn(v -> { }),
                    new PrimitiveConverter() {
                        @Override
                        public void addBoolean(boolean v) {
                            heldOut[row] = v;
                        }
                    },
                    new PrimitiveConverter() {
                        @Override
                        public void addBinary(Binary v) {
                            byte[] b = v.getBytes();
                            if (b.length != layout.xBytes()) throw new IllegalStateException("x has " + b.length + " bytes, expected " + layout.xBytes());
                            layout.hiddenDtype().decode(b, x, row * layout.hiddenSize());
                        }
                    },
                    new PrimitiveConverter() {
                        @Override
                        public void addBinary(Binary v) {
                            ByteBuffer b = v.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                            if (b.remaining() != layout.targetBytes()) throw new IllegalStateException("target has " + b.remaining() + " bytes, expected " + layout.targetBytes());
                            b.asFloatBuffer().get(target, row * layout.kvHeads(), layout.kvHeads());
                        }
                    }};
            root = new GroupConverter() {
                @Override
                public Converter getConverter(int fieldIndex) {
                    return columns[fieldIndex];
                }

                @Override
                public void start() {}

                @Override
                public void end() {
                    row++;
                }
            };
        }

        private static PrimitiveConverter intColumn(java.util.function.IntConsumer set) {
            return new PrimitiveConverter() {
                @Override
                public void addInt(int v) {
                    set.accept(v);
                }
            };
        }

        @Override
        public Integer getCurrentRecord() {
            return row;
        }

        @Override
        public GroupConverter getRootConverter() {
            return root;
        }
    }
}
