package io.kvgate.cli;

import io.kvgate.evaluator.TextCodec;
import io.kvgate.evaluator.policy.LayerGates;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;

import java.nio.file.Path;

/** Adapters from other modules' types to what the evaluator needs (tokenizer, gates). */
final class ModelText {
    private ModelText() {}

    /** The checkpoint's tokenizer as a {@link TextCodec}. */
    static TextCodec codec(Model model) {
        // TODO(evaluator): TextTokenizer (branch text) once merged.
        throw new KvgateException("the tokenizer is not available in this build yet");
    }

    /** Loads a gate artifact, refusing one fitted for another model. */
    static LayerGates gates(Path artifact, Model model) {
        // TODO(evaluator): GateArtifact.load + requireModel(fingerprint) (branch gates) once merged.
        throw new KvgateException("gate artifacts are not supported in this build yet: " + artifact);
    }
}
