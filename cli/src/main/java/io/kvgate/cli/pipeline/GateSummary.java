package io.kvgate.cli.pipeline;

import java.nio.file.Path;
import java.util.List;

/** Held-out metrics of each fitted gate type (filled from the artifacts once the export module lands). */
final class GateSummary {
    private GateSummary() {}

    static String table(Path runDir, List<String> types) {
        return "";
    }
}
