package io.kvgate.models;

import ai.djl.ndarray.NDArray;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Test helpers: the parity fixtures copied into test resources, and error measures. */
final class Fixtures {
    private Fixtures() {}

    static Path parityRoot() {
        try {
            return Path.of(Fixtures.class.getResource("/parity").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every fixture directory (each holds config.json + reference.safetensors); hidden variants are picked up too. */
    static List<Path> parityDirs() {
        try (Stream<Path> s = Files.list(parityRoot())) {
            return s.filter(p -> Files.isRegularFile(p.resolve("reference.safetensors"))).sorted().toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static Path parity(String name) {
        return parityRoot().resolve(name);
    }

    /** ‖ours − ref‖ / ‖ref‖ in double precision. */
    static double relErr(float[] ours, float[] ref) {
        if (ours.length != ref.length) throw new AssertionError("length " + ours.length + " vs reference " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    static float[] row(float[] m, int row, int width) {
        float[] r = new float[width];
        System.arraycopy(m, row * width, r, 0, width);
        return r;
    }

    static float[] floats(NDArray a) {
        return a.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /** Gap between the largest and second largest value. */
    static double top2Margin(float[] v) {
        double a = Double.NEGATIVE_INFINITY, b = Double.NEGATIVE_INFINITY;
        for (float x : v) {
            if (x > a) {
                b = a;
                a = x;
            } else if (x > b) b = x;
        }
        return a - b;
    }

    static int[] toInts(long[] v) {
        int[] r = new int[v.length];
        for (int i = 0; i < v.length; i++) r[i] = Math.toIntExact(v[i]);
        return r;
    }
}
