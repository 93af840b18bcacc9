package io.kvgate.cli.config;

import io.kvgate.models.KvgateException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Typed, validating access to one YAML mapping of the config (composed node tree, so every value keeps its line).
 * Every accessor either returns a valid value or throws a {@link KvgateException} of the form
 * {@code <file>:<line>: <qualified.key>: <problem>}. Unknown keys are rejected when the section is opened.
 */
final class Section {
    private final String path;
    private final Node anchor;
    private final Map<String, NodeTuple> entries = new LinkedHashMap<>();
    private final Origins origins;
    private final Path baseDir;

    private Section(String path, MappingNode node, Node anchor, Origins origins, Path baseDir, Collection<String> known) {
        this.path = path;
        this.anchor = anchor;
        this.origins = origins;
        this.baseDir = baseDir;
        if (node == null) return;
        for (NodeTuple t : node.getValue()) {
            if (!(t.getKeyNode() instanceof ScalarNode k)) {
                throw fail(t.getKeyNode(), path.isEmpty() ? "(key)" : path, "keys must be plain names");
            }
            String key = k.getValue();
            if (!known.contains(key)) {
                throw fail(k, qualify(key), "unknown key" + Suggest.hint(key, known)
                        + "; expected one of " + String.join(", ", known));
            }
            if (entries.put(key, t) != null) throw fail(k, qualify(key), "duplicate key");
        }
    }

    /** The document root: a mapping whose keys must be among {@code known}. */
    static Section root(Node node, Origins origins, Path baseDir, Collection<String> known) {
        if (node == null) throw new KvgateException(origins.fileLabel() + ": the config is empty");
        if (!(node instanceof MappingNode m)) {
            throw new KvgateException(origins.where(node) + ": expected a mapping of sections (model:, corpus:, ...)");
        }
        return new Section("", m, m, origins, baseDir, known);
    }

    /** A nested mapping; absent or null gives an empty section (all defaults). */
    Section section(String key, Collection<String> known) {
        Node v = value(key);
        if (v == null) return new Section(qualify(key), null, anchor, origins, baseDir, known);
        if (!(v instanceof MappingNode m)) throw fail(v, qualify(key), "expected a mapping with keys " + String.join(", ", known));
        return new Section(qualify(key), m, entries.get(key).getKeyNode(), origins, baseDir, known);
    }

    boolean isMapping(String key) {
        return value(key) instanceof MappingNode;
    }

    boolean has(String key) {
        return value(key) != null;
    }

    String string(String key, String def) {
        ScalarNode s = scalar(key);
        return s == null ? def : s.getValue();
    }

    /** One of {@code allowed}. */
    String choice(String key, String def, Collection<String> allowed) {
        ScalarNode s = scalar(key);
        if (s == null) return def;
        return checkChoice(s, qualify(key), s.getValue(), allowed);
    }

    boolean bool(String key, boolean def) {
        ScalarNode s = scalar(key);
        if (s == null) return def;
        return switch (s.getValue().toLowerCase()) {
            case "true", "yes", "on" -> true;
            case "false", "no", "off" -> false;
            default -> throw fail(s, qualify(key), "expected true or false, got '" + s.getValue() + "'");
        };
    }

    int integer(String key, int def, Range range) {
        ScalarNode s = scalar(key);
        if (s == null) return def;
        return parseInt(s, qualify(key), range);
    }

    /** An optional integer: null when absent or null. */
    Integer optionalInteger(String key, Range range) {
        ScalarNode s = scalar(key);
        return s == null ? null : parseInt(s, qualify(key), range);
    }

    double number(String key, double def, Range range) {
        ScalarNode s = scalar(key);
        if (s == null) return def;
        return parseDouble(s, qualify(key), range);
    }

    /** A non-empty list of numbers in {@code range}: a YAML list, a single number, or "a,b,c". */
    List<Double> numbers(String key, List<Double> def, Range range) {
        List<Item> items = items(key);
        if (items == null) return def;
        List<Double> out = new ArrayList<>();
        for (Item it : items) out.add(parseDouble(it, range));
        return out;
    }

    /** A non-empty list of distinct values from {@code allowed}: a YAML list, a single value, or "a,b". */
    List<String> choices(String key, List<String> def, Collection<String> allowed) {
        List<Item> items = items(key);
        if (items == null) return def;
        Set<String> seen = new LinkedHashSet<>();
        for (Item it : items) {
            String v = checkChoice(it.node, it.name, it.text, allowed);
            if (!seen.add(v)) throw fail(it.node, it.name, "'" + v + "' is listed twice");
        }
        return List.copyOf(seen);
    }

    /** A path resolved against the config file's directory (absolute paths stay as they are); not checked. */
    Path path(String key) {
        ScalarNode s = scalar(key);
        return s == null ? null : resolve(s.getValue());
    }

    Path resolve(String text) {
        return baseDir.resolve(text).normalize();
    }

    /** The scalar under {@code key}, for values with their own syntax; null when absent. */
    ScalarNode scalar(String key) {
        Node v = value(key);
        if (v == null) return null;
        if (!(v instanceof ScalarNode s)) throw fail(v, qualify(key), "expected a single value, got a " + kind(v));
        return s;
    }

    String qualify(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    KvgateException fail(Node at, String qualifiedKey, String problem) {
        return new KvgateException(origins.where(at) + ": " + qualifiedKey + ": " + problem);
    }

    KvgateException fail(String key, String problem) {
        Node v = value(key);
        return fail(v != null ? v : anchor, qualify(key), problem);
    }

    KvgateException missing(String key) {
        NodeTuple t = entries.get(key);
        Node at = t != null ? t.getKeyNode() : anchor;
        String where = path.isEmpty() ? "" : " in " + path;
        return fail(at, qualify(key), "missing required key" + where);
    }

    /** A list element or the single value standing for a list, with its display name (key[i]). */
    record Item(Node node, String name, String text) {}

    /** The elements under {@code key}; null when absent; never empty (an empty list is an error). */
    List<Item> items(String key) {
        Node v = value(key);
        String name = qualify(key);
        if (v == null) return null;
        List<Item> out = new ArrayList<>();
        if (v instanceof SequenceNode seq) {
            int i = 0;
            for (Node e : seq.getValue()) {
                String n = name + "[" + i++ + "]";
                if (!(e instanceof ScalarNode s)) throw fail(e, n, "expected a single value, got a " + kind(e));
                out.add(new Item(s, n, s.getValue().strip()));
            }
        } else if (v instanceof ScalarNode s) {
            // "0.2,0.3" or "linear": the compact form --set uses; an empty string is an empty list.
            String text = s.getValue().strip();
            if (text.startsWith("[") && text.endsWith("]")) text = text.substring(1, text.length() - 1);
            if (!text.isBlank()) {
                String[] parts = text.split(",", -1);
                for (int i = 0; i < parts.length; i++) {
                    out.add(new Item(s, parts.length == 1 ? name : name + "[" + i + "]", parts[i].strip()));
                }
            }
        } else {
            throw fail(v, name, "expected a list, got a " + kind(v));
        }
        if (out.isEmpty()) throw fail(v, name, "must not be empty");
        return out;
    }

    private Node value(String key) {
        NodeTuple t = entries.get(key);
        if (t == null) return null;
        Node v = t.getValueNode();
        if (v instanceof ScalarNode s && Tag.NULL.equals(s.getTag())) return null;
        return v;
    }

    private String checkChoice(Node at, String name, String value, Collection<String> allowed) {
        if (!allowed.contains(value)) {
            throw fail(at, name, "unknown value '" + value + "'" + Suggest.hint(value, allowed)
                    + "; expected one of " + String.join(", ", allowed));
        }
        return value;
    }

    private int parseInt(Node at, String name, Range range) {
        String text = ((ScalarNode) at).getValue().strip().replace("_", "");
        long v;
        try {
            v = Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw fail(at, name, "expected an integer, got '" + ((ScalarNode) at).getValue() + "'");
        }
        if (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE || !range.contains(v)) {
            throw fail(at, name, text + " is out of range, expected " + range);
        }
        return (int) v;
    }

    private double parseDouble(Node at, String name, Range range) {
        String text = at instanceof ScalarNode s ? s.getValue().strip() : "";
        return parseDouble(at, name, text, range);
    }

    private double parseDouble(Node at, String name, String text, Range range) {
        double v;
        try {
            v = Double.parseDouble(text.replace("_", ""));
        } catch (NumberFormatException e) {
            throw fail(at, name, "expected a number, got '" + text + "'");
        }
        if (!range.contains(v)) throw fail(at, name, text + " is out of range, expected " + range);
        return v;
    }

    private double parseDouble(Item it, Range range) {
        return parseDouble(it.node, it.name, it.text, range);
    }

    private static String kind(Node n) {
        if (n instanceof MappingNode) return "mapping";
        if (n instanceof SequenceNode) return "list";
        return "value";
    }
}
