package io.kvgate.cli.pipeline;

import io.kvgate.export.ArtifactManifest;
import io.kvgate.export.GateArtifact;
import io.kvgate.gates.GateMetrics;
import io.kvgate.models.util.TextTable;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Held-out metrics of each fitted gate type, read from the artifacts' manifest.json (export module's format). */
final class GateSummary {
    private GateSummary() {}

    static String table(Path runDir, List<String> types) {
        TextTable t = new TextTable("gate", "layers", "held-out pairs", "MSE", "BCE", "agree@0.05", "constant gate", "spearman", "artifact");
        int rows = 0;
        for (String type : types) {
            Path dir = runDir.resolve("gates").resolve(type);
            if (!Files.isRegularFile(dir.resolve(GateArtifact.MANIFEST))) continue;
            ArtifactManifest m = GateArtifact.readManifest(dir);
            GateMetrics g = m.overall();
            t.row(type, m.gatedLayers().length, g.pairs(), String.format("%.4f", g.mse()), String.format("%.4f", g.bce()),
                    String.format("%.1f%%", 100 * g.agreement()),
                    String.format("%.1f%%", 100 * g.constantAgreement()), String.format("%.3f", g.spearman()), runDir.relativize(dir));
            rows++;
        }
        return rows == 0 ? "" : "Gates (held-out tokens, all layers)\n\n" + t;
    }
}
