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
    /** Floats of {@code x} per streamed batch (256 MB): bounds memory whatever the shard size. */
    public static final int BATCH_FLOATS = 1 << 26;

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
        if (m.shards() == null || m.shards().isEmpty()) throw new KvgateException(file + ": lists no shards");
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

    /**
     * Streams every row of one gated layer, shard by shard; a shard's layer file comes as one batch, or as
     * several when it holds more than {@link #BATCH_FLOATS} hidden values.
     */
    public void forEachBatch(int layer, Consumer<FeatureBatch> sink) {
        forEachBatch(layer, Math.max(1, BATCH_FLOATS / manifest.hiddenSize()), sink);
    }

    /** As {@link #forEachBatch(int, Consumer)}, with at most {@code maxRows} rows per batch. */
    public void forEachBatch(int layer, int maxRows, Consumer<FeatureBatch> sink) {
        checkLayer(layer);
        for (String shard : shardNames())
            streamLayerFile(FeatureShardSchema.layerPath(dir.resolve(shard), layer), manifest.layout(), layer, maxRows, sink);
    }

    /** All rows of one layer in one shard, as one batch. */
    public FeatureBatch read(String shard, int layer) {
        checkLayer(layer);
        FeatureBatch[] one = new FeatureBatch[1];
        streamLayerFile(FeatureShardSchema.layerPath(dir.resolve(shard), layer), manifest.layout(), layer, Integer.MAX_VALUE,
                b -> one[0] = b);
        return one[0];
    }

    private void checkLayer(int layer) {
        if (!manifest.layout().hasLayer(layer))
            throw new KvgateException(dir + ": layer " + layer + " has no features (gated layers: "
                    + java.util.Arrays.toString(manifest.gatedLayers()) + ")");
    }

    /**
     * Reads one layer file in batches of at most {@code maxRows} rows (always at least one batch, possibly
     * empty); checks its footer against {@code layout}.
     */
    public static void streamLayerFile(Path file, ShardLayout layout, int layer, int maxRows, Consumer<FeatureBatch> sink) {
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
        long cap = Math.min(rows, maxRows);
        if (cap * layout.hiddenSize() > Integer.MAX_VALUE - 16)
            throw new KvgateException(file + ": " + cap + " rows do not fit one batch; read with fewer rows per batch");
        BatchMaterializer m = new BatchMaterializer(layout, layer, (int) cap, rows, sink);
        try (ParquetReader<Integer> reader = ParquetIo.reader(file, s -> s, s -> m)) {
            while (reader.read() != null) {
                // rows land in the materializer's arrays, which hands full batches to the sink
            }
        } catch (KvgateException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new KvgateException(file + ": cannot read rows (" + e.getMessage() + ")", e);
        }
        if (m.total != rows) throw new KvgateException(file + ": footer says " + rows + " rows, read " + m.total);
        m.finish();
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

    /** Decodes rows straight into batch arrays (no per-row objects), handing each full batch to the sink. */
    private static final class BatchMaterializer extends RecordMaterializer<Integer> {
        private final ShardLayout layout;
        private final int layer;
        private final int capacity;
        private final long expected;
        private final Consumer<FeatureBatch> sink;
        private final GroupConverter root;
        private float[] x;
        private float[] target;
        private boolean[] heldOut;
        private int[] doc;
        private int[] position;
        private int row;
        private boolean emitted;
        long total;

        BatchMaterializer(ShardLayout layout, int layer, int capacity, long expected, Consumer<FeatureBatch> sink) {
            this.layout = layout;
            this.layer = layer;
            this.capacity = capacity;
            this.expected = expected;
            this.sink = sink;
            allocate();
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
                            if (b.length != layout.xBytes()) throw new KvgateException("x has " + b.length + " bytes, expected " + layout.xBytes());
                            layout.hiddenDtype().decode(b, x, row * layout.hiddenSize());
                        }
                    },
                    new PrimitiveConverter() {
                        @Override
                        public void addBinary(Binary v) {
                            ByteBuffer b = v.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                            if (b.remaining() != layout.targetBytes()) throw new KvgateException("target has " + b.remaining() + " bytes, expected " + layout.targetBytes());
                            b.asFloatBuffer().get(target, row * layout.kvHeads(), layout.kvHeads());
                        }
                    }};
            root = new GroupConverter() {
                @Override
                public Converter getConverter(int fieldIndex) {
                    return columns[fieldIndex];
                }

                @Override
                public void start() {
                    if (row == capacity) emit(); // the previous batch is full
                }

                @Override
                public void end() {
                    row++;
                    total++;
                }
            };
        }

        private void allocate() {
            int n = (int) Math.min(capacity, Math.max(0, expected - total));
            x = new float[n * layout.hiddenSize()];
            target = new float[n * layout.kvHeads()];
            heldOut = new boolean[n];
            doc = new int[n];
            position = new int[n];
            row = 0;
        }

        private void emit() {
            sink.accept(new FeatureBatch(layer, row, layout.hiddenSize(), layout.kvHeads(), x, target, heldOut, doc, position));
            emitted = true;
            allocate();
        }

        /** Hands over the last (possibly partial or empty) batch. */
        void finish() {
            if (row > 0 || !emitted)
                sink.accept(new FeatureBatch(layer, row, layout.hiddenSize(), layout.kvHeads(), x, target, heldOut, doc, position));
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
