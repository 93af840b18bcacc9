package io.kvgate.datasets;

import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.ParquetReadOptions;
import org.apache.parquet.conf.ParquetConfiguration;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.InitContext;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.io.api.RecordMaterializer;
import org.apache.parquet.schema.MessageType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Parquet-MR on the local filesystem without Hadoop: {@link LocalInputFile}/{@link LocalOutputFile} and
 * {@link PlainParquetConfiguration}, with our own read/write supports (no Avro, no example Groups), so no
 * Hadoop {@code Configuration} is ever created (page codecs: {@link PlainCodecs}). Hadoop's classes are only named in Parquet-MR's signatures.
 * Internal to the datasets module (public only for its subpackages).
 */
public final class ParquetIo {
    private ParquetIo() {}

    /** A writer of records of type T; {@code writeRecord} emits one record's fields through the consumer. */
    public static <T> ParquetWriter<T> writer(Path file, MessageType schema, Map<String, String> footer,
                                       BiConsumer<RecordConsumer, T> writeRecord, long rowGroupBytes) throws IOException {
        WriteSupport<T> support = new WriteSupport<>() {
            private RecordConsumer consumer;

            @Override
            public WriteContext init(Configuration conf) {
                return new WriteContext(schema, footer);
            }

            @Override
            public WriteContext init(ParquetConfiguration conf) {
                return new WriteContext(schema, footer);
            }

            @Override
            public void prepareForWrite(RecordConsumer recordConsumer) {
                this.consumer = recordConsumer;
            }

            @Override
            public void write(T record) {
                consumer.startMessage();
                writeRecord.accept(consumer, record);
                consumer.endMessage();
            }
        };
        return new WriterBuilder<>(new LocalOutputFile(file), support)
                .withConf(new PlainParquetConfiguration())
                .withCompressionCodec(CompressionCodecName.UNCOMPRESSED) // floats barely compress
                .withCodecFactory(PlainCodecs.INSTANCE)
                .withRowGroupSize(rowGroupBytes)
                .build();
    }

    /** A reader whose records are built by the materializer that {@code materializer} makes from the file schema. */
    public static <T> ParquetReader<T> reader(Path file, Function<MessageType, MessageType> projection,
                                       Function<MessageType, RecordMaterializer<T>> materializer) throws IOException {
        ReadSupport<T> support = new ReadSupport<>() {
            @Override
            public ReadContext init(InitContext context) {
                return new ReadContext(projection.apply(context.getFileSchema()));
            }

            @Override
            public RecordMaterializer<T> prepareForRead(Configuration conf, Map<String, String> meta,
                                                        MessageType fileSchema, ReadContext context) {
                return materializer.apply(context.getRequestedSchema());
            }

            @Override
            public RecordMaterializer<T> prepareForRead(ParquetConfiguration conf, Map<String, String> meta,
                                                        MessageType fileSchema, ReadContext context) {
                return materializer.apply(context.getRequestedSchema());
            }
        };
        return new ReaderBuilder<>(new LocalInputFile(file), support).withCodecFactory(PlainCodecs.INSTANCE).build();
    }

    /** The file's schema and footer metadata, without reading any rows. */
    public static ParquetFileReader openFooter(Path file) throws IOException {
        return ParquetFileReader.open(new LocalInputFile(file), ParquetReadOptions.builder(new PlainParquetConfiguration())
                .withCodecFactory(PlainCodecs.INSTANCE).build());
    }

    private static final class WriterBuilder<T> extends ParquetWriter.Builder<T, WriterBuilder<T>> {
        private final WriteSupport<T> support;

        WriterBuilder(LocalOutputFile file, WriteSupport<T> support) {
            super(file);
            this.support = support;
        }

        @Override
        protected WriterBuilder<T> self() {
            return this;
        }

        @Override
        protected WriteSupport<T> getWriteSupport(Configuration conf) {
            return support;
        }

        @Override
        protected WriteSupport<T> getWriteSupport(ParquetConfiguration conf) {
            return support;
        }
    }

    private static final class ReaderBuilder<T> extends ParquetReader.Builder<T> {
        private final ReadSupport<T> support;

        ReaderBuilder(LocalInputFile file, ReadSupport<T> support) {
            super(file, new PlainParquetConfiguration());
            this.support = support;
        }

        @Override
        protected ReadSupport<T> getReadSupport() {
            return support;
        }
    }
}
