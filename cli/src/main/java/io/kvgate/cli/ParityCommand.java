package io.kvgate.cli;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.ForwardResult;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.SafetensorsFile;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Checks the runtime against transformers' float32 references on any device and dtype: a parity fixture is a
 * checkpoint folder with a {@code reference.safetensors} (input_ids, logits, hidden_last, greedy_ids,
 * greedy_logits). Reports ‖ours − ref‖/‖ref‖ for the full forward pass and for teacher-forced decoding through
 * the KV cache; exits 1 when one exceeds the tolerance (1e-4 in float32, 1e-2 in float16 by default).
 */
@Command(name = "parity", mixinStandardHelpOptions = true,
        description = "Compare forward passes with the float32 references of parity fixtures on a device/dtype.")
public final class ParityCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "FIXTURE", description = "Fixture folders (checkpoint + reference.safetensors).")
    List<Path> fixtures;

    @Option(names = "--device", defaultValue = "cpu", description = ComputeTarget.DEVICE_HELP + " (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--dtype", defaultValue = "float32", description = ComputeTarget.DTYPE_HELP + " (default: ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--tolerance", description = "Largest relative error that passes (default 1e-4 float32, 1e-2 float16).")
    Double tolerance;

    @Override
    public Integer call() {
        ComputeTarget target = ComputeTarget.parse(device, dtype);
        double tol = tolerance != null ? tolerance : target.dtype() == DataType.FLOAT16 ? 1e-2 : 1e-4;
        TextTable table = new TextTable("fixture", "device/dtype", "logits", "hidden_last", "greedy logits (max)", "greedy ids", "pass");
        boolean allPass = true;
        for (Path dir : fixtures) {
            Path refFile = dir.resolve("reference.safetensors");
            if (!Files.isRegularFile(refFile)) throw new KvgateException(refFile + " not found: a parity fixture needs reference.safetensors");
            try (Checkpoint ck = Checkpoint.open(dir); SafetensorsFile ref = SafetensorsFile.open(refFile);
                 Model model = Model.load(ck, target.device(), target.dtype())) {
                int[] ids = toInts(ref.readLongs("input_ids"));
                double eLogits, eHidden;
                try (KvCache cache = model.newCache(); NDManager scope = model.manager().newSubManager()) {
                    ForwardResult r = model.forward(scope, cache, ids,
                            ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL).withKeepHidden(true));
                    eLogits = relErr(r.logits().toFloatArray(), ref.readFloats("logits"));
                    eHidden = relErr(r.hiddenLast().toFloatArray(), ref.readFloats("hidden_last"));
                }
                // teacher-forced greedy continuation through the cache (prefill, then one token per step)
                int[] greedy = toInts(ref.readLongs("greedy_ids"));
                float[] refGreedy = ref.readFloats("greedy_logits");
                int v = model.config().vocabSize();
                double eGreedy = 0;
                int sameIds = 0;
                try (KvCache cache = model.newCache()) {
                    int[] feed = ids;
                    for (int i = 0; i < greedy.length; i++) {
                        float[] logits;
                        try (NDManager scope = model.manager().newSubManager()) {
                            logits = model.forward(scope, cache, feed, ForwardOptions.defaults()).logits().toFloatArray();
                        }
                        float[] want = new float[v];
                        System.arraycopy(refGreedy, i * v, want, 0, v);
                        eGreedy = Math.max(eGreedy, relErr(logits, want));
                        if (argmax(logits) == greedy[i]) sameIds++;
                        feed = new int[] {greedy[i]};
                    }
                }
                boolean pass = eLogits <= tol && eHidden <= tol && eGreedy <= tol;
                allPass &= pass;
                table.row(dir.getFileName(), target, sci(eLogits), sci(eHidden), sci(eGreedy),
                        sameIds + "/" + greedy.length, pass ? "yes" : "NO (tol " + sci(tol) + ")");
            }
        }
        System.out.print(table);
        return allPass ? 0 : 1;
    }

    /** ‖ours − ref‖ / ‖ref‖ in double precision. */
    private static double relErr(float[] ours, float[] ref) {
        if (ours.length != ref.length) throw new KvgateException("output has " + ours.length + " values, reference " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static int[] toInts(long[] v) {
        int[] r = new int[v.length];
        for (int i = 0; i < v.length; i++) r[i] = Math.toIntExact(v[i]);
        return r;
    }

    private static String sci(double v) {
        return String.format("%.2e", v);
    }
}
