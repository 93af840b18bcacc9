package io.kvgate.cli;

import io.kvgate.export.ArtifactManifest;
import io.kvgate.export.GateArtifact;
import io.kvgate.gates.GateMetrics;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/** Print a gate artifact's manifest and per-layer metrics. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Validate a gate artifact and print its manifest and per-layer held-out metrics.")
public final class InspectCommand implements Runnable {
    @Parameters(index = "0", paramLabel = "ARTIFACT", description = "Gate artifact directory (gates.safetensors + manifest.json).")
    Path artifact;

    @Option(names = "--model", paramLabel = "DIR", description = "Also check that the artifact was fitted for this checkpoint.")
    Path model;

    @Override
    public void run() {
        try (GateArtifact a = GateArtifact.load(artifact)) {
            if (model != null) {
                try (Checkpoint cp = Checkpoint.open(model)) {
                    a.requireModel(cp.fingerprint());
                }
            }
            ArtifactManifest m = a.manifest();
            TextTable info = new TextTable("field", "value");
            info.row("artifact", artifact);
            info.row("format", GateArtifact.FORMAT + " v" + m.formatVersion() + " (kvgate " + m.kvgateVersion() + ")");
            info.row("gate type", m.gateType().id());
            info.row("model", m.modelType() + " " + m.modelFingerprint() + (model != null ? " (matches " + model + ")" : ""));
            info.row("sizes", "hidden " + m.hiddenSize() + ", KV heads " + m.kvHeads() + ", group " + m.groupSize());
            info.row("gated layers", Arrays.toString(m.gatedLayers()));
            info.row("corpus", m.corpus().source() + ": " + m.corpus().tokens() + " tokens/layer, " + m.corpus().heldOutTokens() + " held out");
            for (Map.Entry<String, Object> e : m.hyperParameters().entrySet())
                if (!e.getKey().equals("fit_details")) info.row(e.getKey(), e.getValue());
            System.out.println(info);
            Object details = m.hyperParameters().get("fit_details");
            TextTable t = new TextTable("layer", "pairs", "MSE", "BCE", "agree@0.05", "const@0.05", "Spearman", "S≥0.05", "fit");
            for (Map.Entry<Integer, GateMetrics> e : m.layerMetrics().entrySet())
                row(t, String.valueOf(e.getKey()), e.getValue(), details instanceof Map<?, ?> d ? String.valueOf(d.get(String.valueOf(e.getKey()))) : "");
            row(t, "all", m.overall(), "");
            System.out.println(t);
        }
    }

    private static void row(TextTable t, String layer, GateMetrics m, String detail) {
        t.row(layer, m.pairs(), String.format("%.5f", m.mse()), String.format("%.4f", m.bce()), String.format("%.4f", m.agreement()),
                String.format("%.4f", m.constantAgreement()), String.format("%.4f", m.spearman()), String.format("%.3f", m.baseRate()), detail == null || detail.equals("null") ? "" : detail);
    }
}
