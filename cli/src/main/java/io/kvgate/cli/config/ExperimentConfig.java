package io.kvgate.cli.config;

import io.kvgate.models.KvgateException;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A validated experiment config: everything {@code kvgate run} needs, typed. Relative paths in the file resolve
 * against the directory of the config file (so a config and its data can move together).
 */
public record ExperimentConfig(String name, Path file, ModelSpec model, ScoringSpec scoring, CorpusSpec corpus,
                               GatesSpec gates, FittingSpec fitting, ExportSpec export, EvalSpec eval) {
    static final List<String> KEYS = List.of("name", "model", "scoring", "corpus", "gates", "fitting", "export", "eval");

    /** Parses and validates {@code file} with {@code sets} ("section.key=value") applied on top. */
    public static ExperimentConfig load(Path file, List<String> sets) {
        if (!Files.isRegularFile(file)) throw new KvgateException(file + ": config file does not exist");
        Origins origins = new Origins(file.toString());
        Node root;
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            root = new Yaml(new LoaderOptions()).compose(r);
        } catch (MarkedYAMLException e) {
            int line = e.getProblemMark() != null ? e.getProblemMark().getLine() + 1 : 0;
            throw new KvgateException(file + ":" + line + ": not valid YAML: " + e.getProblem());
        } catch (YAMLException | IOException e) {
            throw new KvgateException(file + ": cannot read config: " + e.getMessage());
        }
        root = Overrides.apply(root, sets, origins);
        Path baseDir = file.toAbsolutePath().normalize().getParent();
        Section s = Section.root(root, origins, baseDir, KEYS);

        String name = s.string("name", defaultName(file));
        if (!name.matches("[A-Za-z0-9._-]+")) {
            throw s.fail("name", "'" + name + "' is not a plain name (letters, digits, . _ -)");
        }
        if (!s.has("model")) throw s.missing("model");
        if (!s.has("corpus")) throw s.missing("corpus");
        return new ExperimentConfig(name, file.toAbsolutePath().normalize(),
                ModelSpec.read(s.section("model", ModelSpec.KEYS)),
                ScoringSpec.read(s.section("scoring", ScoringSpec.KEYS)),
                CorpusSpec.read(s.section("corpus", CorpusSpec.KEYS)),
                GatesSpec.read(s.section("gates", GatesSpec.KEYS)),
                FittingSpec.read(s.section("fitting", FittingSpec.KEYS)),
                ExportSpec.read(s.section("export", ExportSpec.KEYS)),
                EvalSpec.read(s.section("eval", EvalSpec.KEYS)));
    }

    private static String defaultName(Path file) {
        return file.getFileName().toString().replaceFirst("\\.ya?ml$", "");
    }

    /** Every section with defaults filled in and paths absolute: what resolved-config.yaml holds. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("model", model.toMap());
        m.put("scoring", scoring.toMap());
        m.put("corpus", corpus.toMap());
        m.put("gates", gates.toMap());
        m.put("fitting", fitting.toMap());
        m.put("export", export.toMap());
        m.put("eval", eval.toMap());
        return m;
    }

    /** One resolved section by name (stages hash the sections they read). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> section(String name) {
        Object v = toMap().get(name);
        if (!(v instanceof Map)) throw new IllegalArgumentException("no config section " + name);
        return (Map<String, Object>) v;
    }

    public String toYaml() {
        DumperOptions o = new DumperOptions();
        o.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        o.setIndent(2);
        o.setWidth(120);
        return "# Resolved from " + file + " (defaults filled in, paths absolute).\n" + new Yaml(o).dump(toMap());
    }
}
