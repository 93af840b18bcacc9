package io.kvgate.datasets.corpus;

import io.kvgate.datasets.ParquetIo;
import io.kvgate.models.KvgateException;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.Converter;
import org.apache.parquet.io.api.GroupConverter;
import org.apache.parquet.io.api.PrimitiveConverter;
import org.apache.parquet.io.api.RecordMaterializer;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/** A Parquet file with a top-level string column; only that column is read. Null cells are skipped. */
final class ParquetDocuments {
    private ParquetDocuments() {}

    /** Returns false once the sink wants no more; {@code nulls} counts rows without text. */
    static boolean read(Path file, String column, Predicate<RawDocument> sink, Runnable onNull) {
        MessageType schema;
        try (ParquetFileReader footer = ParquetIo.openFooter(file)) {
            schema = footer.getFileMetaData().getSchema();
        } catch (IOException | RuntimeException e) {
            throw new KvgateException(file + ": not a readable Parquet file (" + e.getMessage() + ")", e);
        }
        if (!schema.containsField(column)) {
            String names = schema.getFields().stream().map(Type::getName).collect(Collectors.joining(", "));
            throw new KvgateException(file + ": no column '" + column + "' (columns: " + names + "); set the text field");
        }
        Type t = schema.getType(column);
        if (!t.isPrimitive() || t.asPrimitiveType().getPrimitiveTypeName() != PrimitiveTypeName.BINARY
                || t.isRepetition(Type.Repetition.REPEATED))
            throw new KvgateException(file + ": column '" + column + "' is " + t + ", expected a string column");
        MessageType projection = new MessageType(schema.getName(), t);
        try (ParquetReader<Optional<String>> reader = ParquetIo.reader(file, s -> projection, s -> new TextMaterializer())) {
            long row = 0;
            for (Optional<String> text = reader.read(); text != null; text = reader.read(), row++) {
                if (text.isEmpty()) {
                    onNull.run();
                    continue;
                }
                if (!sink.test(new RawDocument(file + "[" + row + "]", text.get()))) return false;
            }
            return true;
        } catch (IOException e) {
            throw new KvgateException(file + ": cannot read column '" + column + "' (" + e.getMessage() + ")", e);
        }
    }

    /** Materialises each record's single string cell (empty when null). */
    private static final class TextMaterializer extends RecordMaterializer<Optional<String>> {
        private String current;
        private final PrimitiveConverter cell = new PrimitiveConverter() {
            @Override
            public void addBinary(Binary value) {
                current = value.toStringUsingUTF8();
            }
        };
        private final GroupConverter root = new GroupConverter() {
            @Override
            public Converter getConverter(int fieldIndex) {
                return cell;
            }

            @Override
            public void start() {
                current = null;
            }

            @Override
            public void end() {}
        };

        @Override
        public Optional<String> getCurrentRecord() {
            return Optional.ofNullable(current);
        }

        @Override
        public GroupConverter getRootConverter() {
            return root;
        }
    }
}
