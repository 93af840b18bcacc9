package io.kvgate.cli.config;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code export:} an optional extra place for the fitted artifacts.
 *
 * @param path null: artifacts stay in the experiment's gates/&lt;type&gt;/ only; otherwise each is also copied
 *             to path/&lt;type&gt;/ (resolved against the config file's directory)
 */
public record ExportSpec(Path path) {
    static final List<String> KEYS = List.of("path");

    static ExportSpec read(Section s) {
        return new ExportSpec(s.path("path"));
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("path", path == null ? null : path.toString());
        return m;
    }
}
