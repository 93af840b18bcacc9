package io.kvgate.trainer.fit;

import io.kvgate.models.KvgateException;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NormalEquationsTest {
    static final int D = 6, H = 3, N = 500;

    @TempDir
    Path tmp;

    record Data(float[] x, float[] z) {}

    static Data data(long seed) {
        Random r = new Random(seed);
        float[] x = new float[N * D], z = new float[N * H];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() + 0.5);
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                double v = h - 1 + 0.1 * r.nextGaussian();
                for (int i = 0; i < D; i++) v += (i - h) * 0.3 * x[n * D + i];
                z[n * H + h] = (float) v;
            }
        return new Data(x, z);
    }

    @Test
    void ridgeWithTinyLambdaIsOrdinaryLeastSquares() {
        Data d = data(1);
        NormalEquations ne = new NormalEquations("fp", 0, D, H);
        ne.accumulate(d.x, d.z, null, N);
        double[] coef = ne.solve(1e-12).orElseThrow();
        // reference: QR least squares on [x, 1]
        double[][] a = new double[N][D + 1];
        double[][] b = new double[N][H];
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < D; i++) a[n][i] = d.x[n * D + i];
            a[n][D] = 1;
            for (int h = 0; h < H; h++) b[n][h] = d.z[n * H + h];
        }
        RealMatrix ref = new QRDecomposition(new Array2DRowRealMatrix(a)).getSolver().solve(new Array2DRowRealMatrix(b));
        for (int h = 0; h < H; h++)
            for (int i = 0; i <= D; i++) assertEquals(ref.getEntry(i, h), coef[h * (D + 1) + i], 1e-6, "head " + h + " coef " + i);
        // closed-form MSE equals the directly computed one
        double direct = 0;
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                double p = coef[h * (D + 1) + D];
                for (int i = 0; i < D; i++) p += coef[h * (D + 1) + i] * d.x[n * D + i];
                direct += Math.pow(p - d.z[n * H + h], 2);
            }
        assertEquals(direct / (N * H), ne.meanSquaredError(coef), 1e-9);
    }

    @Test
    void shardsSumToTheWholeAndSurviveSerialisation() {
        Data d = data(2);
        NormalEquations whole = new NormalEquations("fp", 3, D, H);
        whole.accumulate(d.x, d.z, null, N);
        NormalEquations a = new NormalEquations("fp", 3, D, H), b = new NormalEquations("fp", 3, D, H);
        int[] even = new int[N / 2], odd = new int[N / 2];
        for (int i = 0; i < N / 2; i++) {
            even[i] = 2 * i;
            odd[i] = 2 * i + 1;
        }
        a.accumulate(d.x, d.z, even, even.length);
        b.accumulate(d.x, d.z, odd, odd.length);
        b.write(tmp.resolve("b.ne"));
        NormalEquations sum = a.add(NormalEquations.read(tmp.resolve("b.ne")));
        assertTrue(sum.sameSums(whole, 1e-12));
        double[] c1 = sum.solve(1e-3).orElseThrow(), c2 = whole.solve(1e-3).orElseThrow();
        for (int i = 0; i < c1.length; i++) assertEquals(c2[i], c1[i], 1e-9);
    }

    @Test
    void refusesToMixModelsOrLayers() {
        NormalEquations a = new NormalEquations("model-a", 0, D, H);
        KvgateException e = assertThrows(KvgateException.class, () -> a.add(new NormalEquations("model-b", 0, D, H)));
        assertTrue(e.getMessage().contains("model-b") && e.getMessage().contains("model-a"), e.getMessage());
        assertThrows(KvgateException.class, () -> a.add(new NormalEquations("model-a", 1, D, H)));
    }

    @Test
    void lambdaIsChosenOnHeldOutRows() {
        // few noisy rows for many features: held-out error must pick a real penalty, not the smallest λ
        Random r = new Random(3);
        int d = 40, n = 60, heads = 1;
        NormalEquations train = new NormalEquations("fp", 0, d, heads), held = new NormalEquations("fp", 0, d, heads);
        for (NormalEquations ne : new NormalEquations[] {train, held}) {
            float[] x = new float[n * d], z = new float[n];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int k = 0; k < n; k++) z[k] = (float) (x[k * d] + 2 * r.nextGaussian());
            ne.accumulate(x, z, null, n);
        }
        LinearFitter.Fit f = LinearFitter.fit(0, train, held, LinearFitter.DEFAULT_LAMBDAS);
        assertTrue(f.lambda() >= 1e-2, "chose λ=" + f.lambda());
        assertTrue(f.heldOutLogitMse() < held.meanSquaredError(train.solve(1e-6).orElseThrow()));
    }
}
