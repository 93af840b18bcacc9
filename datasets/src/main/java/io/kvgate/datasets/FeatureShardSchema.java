package io.kvgate.datasets;

import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;

import java.nio.file.Path;
import java.util.Map;

/**
 * The Parquet schema of a feature shard file ({@code shard-NNNNN/layer-LL.parquet}), one row per sampled
 * token of one gated layer:
 * <pre>
 * message kvgate_features {
 *   required int32 doc;                         // document index in collection order
 *   required int32 position;                    // token position in the wrapped context
 *   required int32 layer;                       // model layer (same for the whole file)
 *   required boolean held_out;                  // reserved for evaluation, never fitted on
 *   required fixed_len_byte_array(D*b) x;       // attention-input hidden state, little-endian f32 (b=4) or f16 (b=2)
 *   required fixed_len_byte_array(H*4) target;  // KVzip score per KV head, little-endian f32
 * }
 * </pre>
 * Footer key/values name the dtype and sizes, so a Python reader needs only pyarrow and
 * {@code numpy.frombuffer(..., dtype='<f2' or '<f4')}.
 */
public final class FeatureShardSchema {
    public static final int FORMAT_VERSION = 1;
    public static final String META_FORMAT = "kvgate.format_version";
    public static final String META_HIDDEN_DTYPE = "kvgate.hidden_dtype";
    public static final String META_HIDDEN_SIZE = "kvgate.hidden_size";
    public static final String META_KV_HEADS = "kvgate.kv_heads";
    public static final String META_LAYER = "kvgate.layer";

    private FeatureShardSchema() {}

    public static MessageType schema(ShardLayout layout) {
        return Types.buildMessage()
                .required(PrimitiveTypeName.INT32).named("doc")
                .required(PrimitiveTypeName.INT32).named("position")
                .required(PrimitiveTypeName.INT32).named("layer")
                .required(PrimitiveTypeName.BOOLEAN).named("held_out")
                .required(PrimitiveTypeName.FIXED_LEN_BYTE_ARRAY).length(layout.xBytes()).named("x")
                .required(PrimitiveTypeName.FIXED_LEN_BYTE_ARRAY).length(layout.targetBytes()).named("target")
                .named("kvgate_features");
    }

    static Map<String, String> footer(ShardLayout layout, int layer) {
        return Map.of(META_FORMAT, String.valueOf(FORMAT_VERSION),
                META_HIDDEN_DTYPE, layout.hiddenDtype().id(),
                META_HIDDEN_SIZE, String.valueOf(layout.hiddenSize()),
                META_KV_HEADS, String.valueOf(layout.kvHeads()),
                META_LAYER, String.valueOf(layer));
    }

    /** File name of one layer's rows inside a shard directory. */
    public static String layerFile(int layer) {
        return String.format("layer-%02d.parquet", layer);
    }

    public static Path layerPath(Path shardDir, int layer) {
        return shardDir.resolve(layerFile(layer));
    }

    /** One encoded row, as the write support emits it. */
    record Row(int doc, int position, int layer, boolean heldOut, byte[] x, byte[] target) {}

    static void write(RecordConsumer c, Row r) {
        c.startField("doc", 0);
        c.addInteger(r.doc());
        c.endField("doc", 0);
        c.startField("position", 1);
        c.addInteger(r.position());
        c.endField("position", 1);
        c.startField("layer", 2);
        c.addInteger(r.layer());
        c.endField("layer", 2);
        c.startField("held_out", 3);
        c.addBoolean(r.heldOut());
        c.endField("held_out", 3);
        c.startField("x", 4);
        c.addBinary(Binary.fromConstantByteArray(r.x()));
        c.endField("x", 4);
        c.startField("target", 5);
        c.addBinary(Binary.fromConstantByteArray(r.target()));
        c.endField("target", 5);
    }
}
