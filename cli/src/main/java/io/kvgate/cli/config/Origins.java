package io.kvgate.cli.config;

import org.yaml.snakeyaml.nodes.Node;

import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Where each YAML node came from, so an error can say "quickstart.yaml:12" or "--set eval.ratios=0.2,1.5".
 * Nodes composed from the file carry snakeyaml marks; nodes spliced in by {@code --set} are registered here.
 */
final class Origins {
    private final String fileLabel;
    private final Map<Node, String> overrides = new IdentityHashMap<>();

    Origins(String fileLabel) {
        this.fileLabel = fileLabel;
    }

    void registerOverride(Node node, String setArgument) {
        overrides.put(node, "--set " + setArgument);
    }

    /** "file.yaml:LINE" (1-based), or the {@code --set} argument the node came from. */
    String where(Node node) {
        String set = overrides.get(node);
        if (set != null) return set;
        if (node == null || node.getStartMark() == null) return fileLabel;
        return fileLabel + ":" + (node.getStartMark().getLine() + 1);
    }

    String fileLabel() {
        return fileLabel;
    }
}
