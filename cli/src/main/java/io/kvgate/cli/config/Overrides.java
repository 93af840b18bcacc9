package io.kvgate.cli.config;

import io.kvgate.models.KvgateException;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.CollectionNode;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.nodes.NodeId;

import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;

/**
 * Applies {@code --set section.key=value} to the composed YAML tree before validation, so overrides go through
 * exactly the same checks as the file; their nodes are registered in {@link Origins} so errors name the --set.
 * The value is YAML ({@code [linear]}, {@code 0.3}, {@code "text"}); lists may also be written {@code 0.2,0.3}.
 */
final class Overrides {
    private Overrides() {}

    static Node apply(Node root, List<String> sets, Origins origins) {
        for (String set : sets) root = applyOne(root, set, origins);
        return root;
    }

    private static Node applyOne(Node root, String set, Origins origins) {
        int eq = set.indexOf('=');
        String keyPath = eq < 0 ? "" : set.substring(0, eq).strip();
        if (eq < 0 || keyPath.isEmpty() || keyPath.startsWith(".") || keyPath.endsWith(".") || keyPath.contains("..")) {
            throw new KvgateException("--set " + set + ": expected KEY=VALUE with a dotted key, e.g. --set eval.ratios=0.2,0.3");
        }
        Node value = parseValue(set, set.substring(eq + 1), origins);
        if (root == null) root = new MappingNode(Tag.MAP, new ArrayList<>(), org.yaml.snakeyaml.DumperOptions.FlowStyle.BLOCK);
        if (!(root instanceof MappingNode)) return root; // the loader reports the malformed document itself
        String[] parts = keyPath.split("\\.");
        MappingNode m = (MappingNode) root;
        for (int i = 0; i < parts.length; i++) {
            boolean last = i == parts.length - 1;
            int idx = indexOf(m, parts[i]);
            if (last) {
                ScalarNode key = key(parts[i], set, origins);
                NodeTuple t = new NodeTuple(key, value);
                if (idx < 0) m.getValue().add(t);
                else m.getValue().set(idx, t);
                break;
            }
            Node child = idx < 0 ? null : m.getValue().get(idx).getValueNode();
            if (child instanceof MappingNode cm) {
                m = cm;
                continue;
            }
            if (child != null && !(child instanceof ScalarNode s && Tag.NULL.equals(s.getTag()))) {
                String prefix = String.join(".", java.util.Arrays.copyOf(parts, i + 1));
                throw new KvgateException("--set " + set + ": " + prefix + " is a single value, not a section");
            }
            MappingNode fresh = new MappingNode(Tag.MAP, new ArrayList<>(), org.yaml.snakeyaml.DumperOptions.FlowStyle.BLOCK);
            origins.registerOverride(fresh, set);
            NodeTuple t = new NodeTuple(key(parts[i], set, origins), fresh);
            if (idx < 0) m.getValue().add(t);
            else m.getValue().set(idx, t);
            m = fresh;
        }
        return root;
    }

    private static Node parseValue(String set, String text, Origins origins) {
        Node value;
        if (text.isBlank()) {
            value = new ScalarNode(Tag.STR, "", null, null, org.yaml.snakeyaml.DumperOptions.ScalarStyle.PLAIN);
        } else {
            try {
                value = new Yaml(new LoaderOptions()).compose(new StringReader(text));
            } catch (YAMLException e) {
                String why = e.getMessage() == null ? "" : e.getMessage().lines().findFirst().orElse("");
                throw new KvgateException("--set " + set + ": the value is not valid YAML (" + why.strip() + ")");
            }
        }
        register(value, set, origins);
        return value;
    }

    private static void register(Node n, String set, Origins origins) {
        if (n == null) return;
        origins.registerOverride(n, set);
        if (n.getNodeId() == NodeId.mapping) {
            for (NodeTuple t : ((MappingNode) n).getValue()) {
                register(t.getKeyNode(), set, origins);
                register(t.getValueNode(), set, origins);
            }
        } else if (n instanceof CollectionNode<?> c) {
            for (Object o : c.getValue()) register((Node) o, set, origins);
        }
    }

    private static ScalarNode key(String name, String set, Origins origins) {
        ScalarNode k = new ScalarNode(Tag.STR, name, null, null, org.yaml.snakeyaml.DumperOptions.ScalarStyle.PLAIN);
        origins.registerOverride(k, set);
        return k;
    }

    private static int indexOf(MappingNode m, String key) {
        List<NodeTuple> v = m.getValue();
        for (int i = 0; i < v.size(); i++) {
            if (v.get(i).getKeyNode() instanceof ScalarNode s && s.getValue().equals(key)) return i;
        }
        return -1;
    }
}
