package io.kvgate.models;

import org.junit.jupiter.api.Test;

import java.util.stream.IntStream;

import static io.kvgate.models.KvCacheTest.prompt;
import static io.kvgate.models.KvCacheTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-layer storage once heads keep different entries: one attention chain per layer, and the two ways of
 * attending a ragged layer (flat with an ownership mask for decode steps, gathered per head for long chunks and
 * observers) give the same results. {@link KvCacheTest#perHeadEvictionEqualsRenormalisedFullAttention} checks the
 * per-head path against the full cache's attention with each head's evicted entries masked out.
 */
class LayerKvTest {
    /** The mask columns of a new token's H rows: 0 for the row's own head, -inf for the others, in the cache's dtype. */
    @Test
    void headDiagonalIsZeroOnTheDiagonalAndMinusInfinityElsewhere() {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch")) {
            for (ai.djl.ndarray.types.DataType dtype : new ai.djl.ndarray.types.DataType[] {
                    ai.djl.ndarray.types.DataType.FLOAT32, ai.djl.ndarray.types.DataType.FLOAT16}) {
                ai.djl.ndarray.NDArray d = LayerKv.headDiagonal(m, 3, dtype);
                assertEquals(dtype, d.getDataType());
                assertEquals(new ai.djl.ndarray.types.Shape(3, 1, 3), d.getShape());
                float[] v = d.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
                for (int i = 0; i < 9; i++) assertEquals(i / 3 == i % 3 ? 0f : Float.NEGATIVE_INFINITY, v[i], dtype + " at " + i);
            }
        }
    }

    /** Keeps a different subset in every (layer, head), ~1/3 of the entries plus the first 4. */
    static void evictUnevenly(KvCache c) {
        for (int l = 0; l < c.numLayers(); l++)
            for (int h = 0; h < c.numKvHeads(); h++) {
                int shift = l + 2 * h, n = c.length(l, h), last = n - 1 - h;
                c.retain(l, h, IntStream.range(0, n).filter(i -> i < 4 || (i + shift) % 3 == 0 || i == last).toArray());
            }
    }

    /** An observer that asks for every layer's probabilities: the forward pass then attends ragged layers per head. */
    static final ForwardObserver PER_HEAD = new ForwardObserver() {
        @Override
        public boolean wantsAttentionProbs(int layer) {
            return true;
        }
    };

    @Test
    void flatAndPerHeadAttentionAgreeOnAnEvictedCache() {
        for (String fx : new String[] {"qwen3-tiny-a", "gemma3-tiny-a"}) { // gemma3: sliding-window layers too
            try (Checkpoint ck = Checkpoint.open(Fixtures.parity(fx)); Model m = Model.load(ck);
                 KvCache flat = m.newCache(); KvCache perHead = m.newCache()) {
                int v = m.config().vocabSize();
                int[] ctx = prompt(40, v);
                run(m, flat, ctx, ForwardOptions.defaults());
                run(m, perHead, ctx, ForwardOptions.defaults());
                evictUnevenly(flat);
                evictUnevenly(perHead);
                for (int l = 0; l < m.config().numLayers(); l++) assertTrue(flat.layer(l).isRagged(), fx + " layer " + l);
                ForwardOptions all = ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL);
                // decode steps and a short chunk (flat path) vs the same through the per-head path
                for (int[] step : new int[][] {{7}, {8}, {9, 10, 11}, {12}}) {
                    float[] a = run(m, flat, step, all), b = run(m, perHead, step, all.withObserver(PER_HEAD));
                    double e = Fixtures.relErr(a, b);
                    assertTrue(e < 1e-5, fx + " step " + step.length + ": flat vs per head rel err " + e);
                }
                // a long chunk: probed without extending (gathered + new keys), then extending; both caches agree after
                int[] chunk = java.util.Arrays.copyOfRange(prompt(60, v), 40, 60);
                float[] probe = run(m, flat, chunk, all.withExtendCache(false));
                float[] extended = run(m, flat, chunk, all);
                assertTrue(Fixtures.relErr(probe, extended) < 1e-5, fx + ": probe vs extend " + Fixtures.relErr(probe, extended));
                run(m, perHead, chunk, all.withObserver(PER_HEAD));
                for (int i = 0; i < 3; i++) {
                    float[] a = run(m, flat, new int[] {i + 20}, all), b = run(m, perHead, new int[] {i + 20}, all.withObserver(PER_HEAD));
                    assertTrue(Fixtures.relErr(a, b) < 1e-5, fx + " after chunk, step " + i);
                }
                for (int l = 0; l < m.config().numLayers(); l++)
                    for (int h = 0; h < m.config().numKvHeads(); h++)
                        assertEquals(java.util.Arrays.toString(perHead.positions(l, h)), java.util.Arrays.toString(flat.positions(l, h)));
            }
        }
    }

    /**
     * What the fused module's varlen attention (attend_segments) reads in place: rows starts[h] .. starts[h] + used[h]
     * of the storage are exactly head h's entries in position order (segment, then tail with the latest chunk last),
     * and the segments do not overlap.
     */
    @Test
    void segmentRowsAreEachHeadsEntriesInPlace() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck); KvCache c = m.newCache();
             ai.djl.ndarray.NDManager scope = m.manager().newSubManager()) {
            int v = m.config().vocabSize();
            run(m, c, prompt(40, v), ForwardOptions.defaults());
            evictUnevenly(c);
            run(m, c, java.util.Arrays.copyOfRange(prompt(60, v), 40, 60), ForwardOptions.defaults()); // a chunk into the tail
            int hk = m.config().numKvHeads();
            for (int l = 0; l < m.config().numLayers(); l++) {
                LayerKv kv = c.layer(l);
                assertTrue(kv.isRagged());
                LayerKv.Segments s = kv.segments(scope);
                int[] starts = s.starts().toIntArray(), used = s.used().toIntArray();
                assertEquals(hk + 1, starts.length);
                assertEquals(s.keyRows().getShape().get(0), starts[hk], "layer " + l + ": the last start is the row count");
                int longest = 0;
                for (int h = 0; h < hk; h++) {
                    int n = c.length(l, h);
                    longest = Math.max(longest, n);
                    assertEquals(n, used[h], "layer " + l + " head " + h);
                    assertTrue(starts[h] + used[h] <= starts[h + 1], "layer " + l + " head " + h + ": segments overlap");
                    float[] want = kv.headEntries(h, true).toFloatArray();
                    try (ai.djl.ndarray.NDArray got = s.keyRows().get(new ai.djl.ndarray.index.NDIndex("{}:{}", starts[h], starts[h] + used[h]))) {
                        org.junit.jupiter.api.Assertions.assertArrayEquals(want, got.toFloatArray(), "layer " + l + " head " + h);
                    }
                }
                assertEquals(longest, s.longest());
            }
        }
    }

    /**
     * A chunk staged for every layer before it passes ({@link KvCache#prepareChunk}: the rows its append writes and the
     * segment view, one upload) appends and lays out exactly as a layer that copies its own int arrays during the chunk.
     */
    @Test
    void aChunkStagedUpFrontAppendsAndSegmentsAsALayerByLayerOne() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck);
             KvCache staged = m.newCache(); KvCache plain = m.newCache(); ai.djl.ndarray.NDManager scope = m.manager().newSubManager()) {
            int[] ctx = prompt(40, m.config().vocabSize());
            run(m, staged, ctx, ForwardOptions.defaults());
            run(m, plain, ctx, ForwardOptions.defaults());
            evictUnevenly(staged);
            evictUnevenly(plain);
            int t = 20, p0 = staged.nextPosition(), hk = m.config().numKvHeads(), d = m.config().headDim();
            staged.prepareChunk(t, p0, l -> true);
            for (int l = 0; l < m.config().numLayers(); l++) {
                ai.djl.ndarray.NDArray k = scope.arange(hk * t * d).toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                        .mul(0.37f + l).sin().reshape(hk, t, d), v = k.cos();
                staged.layer(l).append(k, v, p0);
                plain.layer(l).append(k, v, p0);
                LayerKv.Segments a = staged.layer(l).segments(scope), b = plain.layer(l).segments(scope);
                assertEquals(ai.djl.ndarray.types.DataType.INT32, a.starts().getDataType(), "layer " + l);
                int[] starts = a.starts().toIntArray(), used = a.used().toIntArray();
                org.junit.jupiter.api.Assertions.assertArrayEquals(b.starts().toIntArray(), starts, "layer " + l);
                org.junit.jupiter.api.Assertions.assertArrayEquals(b.used().toIntArray(), used, "layer " + l);
                assertEquals(b.longest(), a.longest(), "layer " + l);
                // what attend_segments reads: every head's used rows (spare rows may differ)
                for (boolean keys : new boolean[] {true, false})
                    for (int h = 0; h < hk; h++) {
                        ai.djl.ndarray.index.NDIndex rows = new ai.djl.ndarray.index.NDIndex("{}:{}", starts[h], starts[h] + used[h]);
                        org.junit.jupiter.api.Assertions.assertArrayEquals((keys ? b.keyRows() : b.valueRows()).get(rows).toFloatArray(),
                                (keys ? a.keyRows() : a.valueRows()).get(rows).toFloatArray(), "layer " + l + " head " + h + (keys ? " keys" : " values"));
                    }
            }
        }
    }

    /**
     * The contract a decode step captured as a CUDA graph relies on (DecodeGraph, tools/make_fused_attention.py
     * decode_step): writing a token's keys/values at {@link LayerKv#decodeSlot}'s index (shared layout: that column;
     * ragged: row firstRows[h] + index of each head h, with its ownership column set to the head diagonal) and then calling
     * {@link LayerKv#appendedInPlace} leaves the cache exactly as {@code append} does, for both layouts; the ragged
     * layers' views being slices of views made for all layers at once (an eviction's flush, a step's reserve).
     */
    @Test
    void aTokenWrittenInPlaceAtTheDecodeSlotEqualsAnAppend() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck)) {
            int v = m.config().vocabSize(), hk = m.config().numKvHeads();
            for (boolean evicted : new boolean[] {false, true}) {
                try (KvCache appended = m.newCache(); KvCache inPlace = m.newCache();
                     ai.djl.ndarray.NDManager scope = m.manager().newSubManager()) {
                    int[] ctx = prompt(40, v);
                    run(m, appended, ctx, ForwardOptions.defaults());
                    run(m, inPlace, ctx, ForwardOptions.defaults());
                    if (evicted) {
                        evictUnevenly(appended);
                        evictUnevenly(inPlace);
                        inPlace.flush(); // all layers in one staged step: the views are slices of one batch (RaggedViewBatch)
                    }
                    for (int step = 0; step < 20; step++) { // past the first growth of either layout
                        int p = appended.nextPosition();
                        run(m, appended, new int[] {(step * 7 + 3) % v}, ForwardOptions.defaults());
                        inPlace.reserve(1); // as DecodeGraph: any growth of every layer in one staged step
                        for (int l = 0; l < m.config().numLayers(); l++) {
                            LayerKv layer = inPlace.layer(l);
                            LayerKv.DecodeSlot slot = layer.decodeSlot();
                            assertEquals(evicted, slot.ownership() != null, "layout of layer " + l);
                            if (evicted) assertSegmentTableMatchesTheHost(slot, hk, "step " + step + " layer " + l);
                            for (int h = 0; h < hk; h++) {
                                int last = appended.length(l, h) - 1;
                                ai.djl.ndarray.NDArray k = appended.keys(l, h).get(last), val = appended.values(l, h).get(last);
                                ai.djl.ndarray.index.NDIndex at = evicted
                                        ? new ai.djl.ndarray.index.NDIndex("{}, 0", slot.firstRows()[h] + slot.writeIndex())
                                        : new ai.djl.ndarray.index.NDIndex("{}, {}", h, slot.writeIndex());
                                slot.keys().set(at, k);
                                slot.values().set(at, val);
                                if (evicted) {
                                    for (int owner = 0; owner < hk; owner++)
                                        slot.ownership().set(new ai.djl.ndarray.index.NDIndex("{}, 0, {}", owner, slot.firstRows()[h] + slot.writeIndex()),
                                                owner == h ? 0f : Float.NEGATIVE_INFINITY);
                                }
                                k.close();
                                val.close();
                            }
                            layer.appendedInPlace(p);
                        }
                        inPlace.advance(1);
                    }
                    for (int l = 0; l < m.config().numLayers(); l++)
                        for (int h = 0; h < hk; h++) {
                            assertEquals(java.util.Arrays.toString(appended.positions(l, h)), java.util.Arrays.toString(inPlace.positions(l, h)));
                            assertTrue(Fixtures.relErr(appended.keys(l, h).toFloatArray(), inPlace.keys(l, h).toFloatArray()) == 0);
                        }
                    // attention reads what was written: the next steps agree
                    for (int i = 0; i < 3; i++) {
                        float[] a = run(m, appended, new int[] {i + 5}, ForwardOptions.defaults());
                        float[] b = run(m, inPlace, new int[] {i + 5}, ForwardOptions.defaults());
                        assertTrue(Fixtures.relErr(a, b) < 1e-6, (evicted ? "ragged" : "shared") + " step " + i + ": " + Fixtures.relErr(a, b));
                    }
                }
            }
        }
    }

    /** A copy of an evicted cache (what a generation decodes on) has spare rows for appends and decodes as the original. */
    @Test
    void aCopyOfAnEvictedCacheHasRoomToAppendAndDecodesAsTheOriginal() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck); KvCache orig = m.newCache()) {
            int v = m.config().vocabSize();
            run(m, orig, prompt(40, v), ForwardOptions.defaults());
            evictUnevenly(orig);
            try (KvCache copy = orig.subset(p -> true)) {
                for (int l = 0; l < m.config().numLayers(); l++) {
                    assertEquals(orig.layer(l).entries(), orig.layer(l).flat().rows(), "an eviction keeps exact size, layer " + l);
                    assertEquals(orig.layer(l).entries() + 16L * m.config().numKvHeads(), copy.layer(l).flat().rows(), "16 spare rows a head, layer " + l);
                }
                for (int step = 0; step < 24; step++) { // past the spare rows: the copy grows once
                    float[] a = run(m, orig, new int[] {(step * 5 + 1) % v}, ForwardOptions.defaults());
                    float[] b = run(m, copy, new int[] {(step * 5 + 1) % v}, ForwardOptions.defaults());
                    assertTrue(Fixtures.relErr(a, b) < 1e-6, "step " + step + ": " + Fixtures.relErr(a, b));
                }
            }
        }
    }

    /**
     * What a captured decode step reads on the device (made from one staged upload per re-layout, DeviceInts) agrees
     * with the host's bookkeeping: segment starts and kept counts (FlashAttention's cu_seqlens / seqused), each head's
     * first tail row, and the ownership mask (0 exactly on the head's filled rows).
     */
    private static void assertSegmentTableMatchesTheHost(LayerKv.DecodeSlot slot, int hk, String where) {
        int[] table = slot.segmentTable().toIntArray();
        long[] tails = slot.tailRows().toLongArray();
        int rows = (int) slot.keys().getShape().get(0);
        float[] own = slot.ownership().toFloatArray(); // [H, 1, rows]
        assertEquals(rows, table[hk], where + ": rows");
        for (int h = 0; h < hk; h++) {
            assertEquals(slot.firstRows()[h], tails[h], where + ": tail row of head " + h);
            assertEquals(slot.firstRows()[h], table[h] + table[hk + 1 + h], where + ": start + kept of head " + h);
            for (int r = 0; r < rows; r++) {
                boolean mine = r >= table[h] && r < slot.firstRows()[h] + slot.writeIndex();
                assertEquals(mine ? 0f : Float.NEGATIVE_INFINITY, own[h * rows + r], where + ": head " + h + " row " + r);
            }
        }
    }

    /** A first chunk adopted as the storage (the fused decoder_in's own arrays) holds what a copying append holds, also after growth. */
    @Test
    void anAdoptedFirstChunkEqualsACopiedOne() {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            int h = 2, d = 4, t = 20;
            java.util.Random r = new java.util.Random(3);
            float[] kv = new float[2 * h * (t + 3) * d];
            for (int i = 0; i < kv.length; i++) kv[i] = (float) r.nextGaussian();
            LayerKv copied = new LayerKv(m, h, d, ai.djl.ndarray.types.DataType.FLOAT32);
            LayerKv adopted = new LayerKv(m, h, d, ai.djl.ndarray.types.DataType.FLOAT32);
            ai.djl.ndarray.NDArray all = m.create(kv, new ai.djl.ndarray.types.Shape(2, h, t + 3, d));
            ai.djl.ndarray.NDArray k0 = all.get("0, :, 0:20").duplicate(), v0 = all.get("1, :, 0:20").duplicate();
            copied.append(k0, v0, 5);
            adopted.append(k0.duplicate(), v0.duplicate(), 5, true);
            assertEquals(copied.bytes(), adopted.bytes(), "an allocation holds exactly the chunk too");
            for (int i = 0; i < 3; i++) { // past the capacity: both grow
                ai.djl.ndarray.NDArray k = all.get("0, :, {}:{}", t + i, t + i + 1), v = all.get("1, :, {}:{}", t + i, t + i + 1);
                copied.append(k, v, 25 + i);
                adopted.append(k, v, 25 + i, true);
            }
            for (int head = 0; head < h; head++) {
                assertEquals(java.util.Arrays.toString(copied.positions(head)), java.util.Arrays.toString(adopted.positions(head)));
                for (boolean keys : new boolean[] {true, false})
                    org.junit.jupiter.api.Assertions.assertArrayEquals(copied.headEntries(head, keys).toFloatArray(),
                            adopted.headEntries(head, keys).toFloatArray());
            }
        }
    }

    /**
     * What a whole-model later chunk does to a layer (prefill_more: rows written in place, or into grown storage the
     * layer adopts) holds what appends hold; the storage is offered only for an unevicted run of positions ending
     * right before the chunk.
     */
    @Test
    void aChunkWrittenIntoSharedStorageEqualsAnAppendedOne() {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            int h = 2, d = 4, t = 20, more = 30;
            java.util.Random r = new java.util.Random(5);
            float[] kv = new float[2 * h * (t + more) * d];
            for (int i = 0; i < kv.length; i++) kv[i] = (float) r.nextGaussian();
            ai.djl.ndarray.NDArray all = m.create(kv, new ai.djl.ndarray.types.Shape(2, h, t + more, d));
            LayerKv appended = new LayerKv(m, h, d, ai.djl.ndarray.types.DataType.FLOAT32);
            LayerKv written = new LayerKv(m, h, d, ai.djl.ndarray.types.DataType.FLOAT32);
            assertNull(written.sharedStorage(0), "an empty layer");
            appended.append(all.get("0, :, 0:20").duplicate(), all.get("1, :, 0:20").duplicate(), 0, true);
            written.append(all.get("0, :, 0:20").duplicate(), all.get("1, :, 0:20").duplicate(), 0, true);
            assertNull(written.sharedStorage(21), "positions not ending right before the chunk");
            int[][] chunks = {{20, 26}, {26, 50}}; // grows (20 -> 40), then again (50 rows needed of 40: doubled to 80)
            for (int[] c : chunks) {
                int n = c[1] - c[0];
                appended.append(all.get("0, :, {}:{}", c[0], c[1]).duplicate(), all.get("1, :, {}:{}", c[0], c[1]).duplicate(), c[0]);
                ai.djl.ndarray.NDArray[] storage = written.sharedStorage(c[0]);
                int cap = (int) storage[0].getShape().get(1), grown = written.grownCapacity(n);
                assertEquals(Math.max(c[1], 2 * cap), grown, "doubling, at least the chunk");
                // what prefill_more does: new zeroed storage with the filled rows, the chunk's rows after them
                ai.djl.ndarray.NDArray nk = m.zeros(new ai.djl.ndarray.types.Shape(h, grown, d)), nv = m.zeros(nk.getShape());
                nk.set(new ai.djl.ndarray.index.NDIndex(":, 0:{}", c[0]), storage[0].get(":, 0:{}", c[0]));
                nv.set(new ai.djl.ndarray.index.NDIndex(":, 0:{}", c[0]), storage[1].get(":, 0:{}", c[0]));
                nk.set(new ai.djl.ndarray.index.NDIndex(":, {}:{}", c[0], c[1]), all.get("0, :, {}:{}", c[0], c[1]));
                nv.set(new ai.djl.ndarray.index.NDIndex(":, {}:{}", c[0], c[1]), all.get("1, :, {}:{}", c[0], c[1]));
                written.adoptGrown(nk, nv);
                written.appendedInPlace(c[0], n);
            }
            for (int head = 0; head < h; head++) {
                assertEquals(java.util.Arrays.toString(appended.positions(head)), java.util.Arrays.toString(written.positions(head)));
                for (boolean keys : new boolean[] {true, false})
                    org.junit.jupiter.api.Assertions.assertArrayEquals(appended.headEntries(head, keys).toFloatArray(),
                            written.headEntries(head, keys).toFloatArray());
            }
            assertEquals(80, written.grownCapacity(0), "the room the last growth left");
            written.retain(0, 0, new int[] {0, 5, 9});
            assertNull(written.sharedStorage(50), "an evicted (ragged) layer");
        }
    }

    @Test
    void oneAttentionChainPerLayerWhateverWasEvicted() {
        // counts Model's own attention calls: with the fused module a one-token step is one decode_step for all layers
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv(FusedAttention.ENV) == null, "a fused module is configured");
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck); KvCache c = m.newCache()) {
            int layers = m.config().numLayers();
            run(m, c, prompt(30, m.config().vocabSize()), ForwardOptions.defaults());
            long before = m.attentionChains();
            run(m, c, new int[] {3}, ForwardOptions.defaults());
            assertEquals(layers, m.attentionChains() - before, "full cache");
            evictUnevenly(c);
            for (int[] ids : new int[][] {{4}, {5, 6, 7}, prompt(20, m.config().vocabSize())}) {
                before = m.attentionChains();
                run(m, c, ids, ForwardOptions.defaults());
                assertEquals(layers, m.attentionChains() - before, "evicted cache, " + ids.length + " tokens");
            }
        }
    }

    /** Retain re-allocates at the kept size (K/V plus the ownership mask); decoding afterwards adds a small tail only. */
    @Test
    void evictedLayersHoldOnlyWhatTheyKeep() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck); KvCache c = m.newCache()) {
            ModelConfig cfg = m.config();
            int d = cfg.headDim(), hkv = cfg.numKvHeads();
            run(m, c, prompt(100, cfg.vocabSize()), ForwardOptions.defaults());
            long full = c.bytes();
            evictUnevenly(c);
            long rows = c.totalEntries();
            long expected = 2 * rows * d * 4 + hkv * rows * 4; // K + V (float32) + one mask value per head and row
            assertEquals(expected, c.bytes());
            assertTrue(c.bytes() < 0.45 * full, c.bytes() + " vs " + full);
            run(m, c, new int[] {1}, ForwardOptions.defaults());
            long tail = 16L * hkv * cfg.numLayers(); // rows of the first tail allocation
            assertEquals(expected + tail * (2L * d * 4 + hkv * 4), c.bytes());
        }
    }
}
