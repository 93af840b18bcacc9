package io.kvgate.trainer.collect;

import io.kvgate.datasets.FeatureDataset;
import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.FeatureShardSchema;
import io.kvgate.datasets.FeatureShardWriter;
import io.kvgate.datasets.ShardInfo;
import io.kvgate.datasets.ShardLayout;
import io.kvgate.datasets.corpus.ShapedCorpus;
import io.kvgate.datasets.corpus.ShapedDocument;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;
import io.kvgate.models.util.Progress;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Collects gate-training features: for each shaped document, wrap it as the model's context, prefill it,
 * score it with KVzip (both done by the {@link FeatureSource}), sample positions, and write one row per
 * sampled token and gated layer into Parquet shards of {@code docsPerShard} documents.
 *
 * <p>Resumable: a shard is the unit of work. Each finished shard carries a key derived from everything that
 * decides its content (model fingerprint, scoring, context format, sampling, corpus settings and its
 * documents' tokens); a restart keeps shards whose key matches and redoes the rest. Shards are written
 * under temp names and renamed when complete; {@code manifest.json} is written last, so a directory with a
 * manifest is a finished collection.
 */
public final class FeatureCollector {
    private final FeatureSource source;
    private final ContextFormat format;
    private final CollectSettings settings;
    private final TokenSampler sampler;

    public FeatureCollector(FeatureSource source, ContextFormat format, CollectSettings settings) {
        this.source = source;
        this.format = format;
        this.settings = settings;
        this.sampler = new TokenSampler(settings);
    }

    public CollectReport collect(ShapedCorpus corpus, Path out) {
        long start = System.nanoTime();
        FeatureSource.SourceInfo info = source.info();
        ShardLayout layout = new ShardLayout(info.hiddenSize(), info.kvHeads(), info.gatedLayers(), settings.hiddenDtype());
        String configKey = configKey(info, corpus);
        List<ShapedDocument> docs = corpus.documents();
        int shardCount = (docs.size() + settings.docsPerShard() - 1) / settings.docsPerShard();
        prepare(out, shardCount);

        List<ShardInfo> shards = new ArrayList<>();
        List<Integer> todo = new ArrayList<>();
        long todoTokens = 0;
        String[] keys = new String[shardCount];
        for (int s = 0; s < shardCount; s++) {
            keys[s] = shardKey(configKey, slice(docs, s));
            final String key = keys[s];
            var done = ShardInfo.readSidecar(out.resolve(ShardInfo.nameOf(s))).filter(i -> i.configKey().equals(key));
            if (done.isEmpty()) {
                todo.add(s);
                for (ShapedDocument d : slice(docs, s)) todoTokens += d.length() + format.overhead();
            }
            shards.add(done.orElse(null));
        }

        long processed = 0;
        try (Progress bar = Progress.start("collect", todoTokens, "tok")) {
            for (int i = 0; i < todo.size(); i++) {
                int s = todo.get(i);
                bar.message("shard " + (i + 1) + "/" + todo.size() + (shardCount > todo.size() ? " (" + (shardCount - todo.size()) + " already done)" : ""));
                ShardInfo written = writeShard(out, s, layout, keys[s], slice(docs, s), bar);
                processed += written.contextTokens();
                shards.set(s, written);
            }
        }

        long tokens = shards.stream().mapToLong(ShardInfo::tokens).sum();
        long heldOut = shards.stream().mapToLong(ShardInfo::heldOutTokens).sum();
        if (tokens == 0)
            throw new KvgateException("collection produced no tokens from " + docs.size() + " documents; raise the sample fraction ("
                    + settings.sampleFraction() + ") or use longer documents");
        FeatureManifest manifest = new FeatureManifest(FeatureShardSchema.FORMAT_VERSION, FeatureManifest.KVGATE_VERSION,
                info.fingerprint(), info.modelType(), info.numLayers(), info.hiddenSize(), info.kvHeads(), info.groupSize(),
                info.gatedLayers().clone(), tokens, heldOut, settings.hiddenDtype().id(), settings.sampleFraction(),
                settings.heldOutEvery(), settings.heldOutRule(), settings.seed(), configKey, new TreeMap<>(info.scoring()),
                corpus.summary(), List.copyOf(shards));
        manifest.writeTo(out);
        return new CollectReport(manifest, todo.size(), shardCount - todo.size(), processed, (System.nanoTime() - start) / 1e9);
    }

    private ShardInfo writeShard(Path out, int s, ShardLayout layout, String key, List<ShapedDocument> docs, Progress bar) {
        int[] layers = layout.layers();
        int hidden = layout.hiddenSize(), heads = layout.kvHeads();
        long contextTokens = 0;
        try (FeatureShardWriter writer = FeatureShardWriter.create(out, s, layout)) {
            for (ShapedDocument doc : docs) {
                int[] context = format.wrap(doc.tokens());
                int[] sampled = sampler.sample(context.length, doc.index());
                contextTokens += context.length;
                if (sampled.length > 0) {
                    byte[][][] x = new byte[layers.length][sampled.length][];
                    float[][] targets = source.run(context, sampled, (li, idx, rows) -> {
                        requireFinite(rows, doc, "hidden state", layers[li]);
                        for (int j = 0; j < idx.length; j++)
                            x[li][idx[j]] = layout.hiddenDtype().encode(rows, j * hidden, hidden);
                    });
                    for (int li = 0; li < layers.length; li++) requireFinite(targets[li], doc, "KVzip score", layers[li]);
                    float[] t = new float[heads];
                    for (int li = 0; li < layers.length; li++) {
                        for (int j = 0; j < sampled.length; j++) {
                            if (x[li][j] == null)
                                throw new IllegalStateException("layer " + layers[li] + ": no hidden state for position " + sampled[j]);
                            System.arraycopy(targets[li], j * heads, t, 0, heads);
                            writer.write(layers[li], doc.index(), sampled[j], sampler.heldOut(doc.index(), j), x[li][j], t);
                        }
                    }
                }
                bar.step(context.length);
            }
            int[] ids = docs.stream().mapToInt(ShapedDocument::index).toArray();
            return writer.commit(key, ids, contextTokens);
        }
    }

    /** NaN/Inf would poison every fit downstream: stop at the document that produced it. */
    private static void requireFinite(float[] values, ShapedDocument doc, String what, int layer) {
        for (float v : values) {
            if (!Float.isFinite(v))
                throw new KvgateException("document " + doc.index() + " (" + doc.origin() + "): " + v + " in the layer " + layer + " "
                        + what + " (the model overflowed; float16 compute is known to overflow on some models, try --dtype float32)");
        }
    }

    /** Creates {@code out}, removes interrupted leftovers, stale shards beyond the new count and the old manifest. */
    private static void prepare(Path out, int shardCount) {
        try {
            Files.createDirectories(out);
            FeatureDataset.removeTempLeftovers(out);
            Files.deleteIfExists(out.resolve(FeatureManifest.FILE));
            try (Stream<Path> s = Files.list(out)) {
                for (Path p : (Iterable<Path>) s::iterator) {
                    String name = p.getFileName().toString();
                    if (ShardInfo.isShardName(name) && Integer.parseInt(name.substring(6)) >= shardCount)
                        AtomicFiles.deleteRecursively(p);
                }
            }
        } catch (IOException e) {
            throw new KvgateException("cannot prepare feature directory " + out + ": " + e.getMessage(), e);
        }
    }

    private List<ShapedDocument> slice(List<ShapedDocument> docs, int shard) {
        int from = shard * settings.docsPerShard();
        return docs.subList(from, Math.min(docs.size(), from + settings.docsPerShard()));
    }

    /** Digest of everything, except the documents themselves, that decides the features. */
    private String configKey(FeatureSource.SourceInfo info, ShapedCorpus corpus) {
        MessageDigest md = sha256();
        update(md, "kvgate-features/" + FeatureShardSchema.FORMAT_VERSION);
        update(md, info.fingerprint());
        update(md, info.modelType());
        update(md, java.util.Arrays.toString(info.gatedLayers()));
        update(md, new TreeMap<>(info.scoring()).toString());
        update(md, java.util.Arrays.toString(format.prefix()) + java.util.Arrays.toString(format.suffix()));
        update(md, settings.toString());
        update(md, corpus.summary().spec().toString());
        return HexFormat.of().formatHex(md.digest()).substring(0, 32);
    }

    private static String shardKey(String configKey, List<ShapedDocument> docs) {
        MessageDigest md = sha256();
        update(md, configKey);
        for (ShapedDocument d : docs) {
            ByteBuffer b = ByteBuffer.allocate(8 + 4 * d.length());
            b.putInt(d.index()).putInt(d.length());
            for (int t : d.tokens()) b.putInt(t);
            md.update(b.array());
        }
        return HexFormat.of().formatHex(md.digest()).substring(0, 32);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void update(MessageDigest md, String s) {
        md.update(s.getBytes(StandardCharsets.UTF_8));
        md.update((byte) 0);
    }
}
