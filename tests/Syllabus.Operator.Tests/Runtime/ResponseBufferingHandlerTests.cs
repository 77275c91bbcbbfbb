using System.Net;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class ResponseBufferingHandlerTests
{
    [Fact]
    public async Task A_response_body_is_read_asynchronously_before_the_caller_reads_it_synchronously()
    {
        var body = new AsyncOnlyStream("{\"kind\":\"Job\"}"u8.ToArray());
        using var invoker = new HttpMessageInvoker(new ResponseBufferingHandler { InnerHandler = new Answer(body) });
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://api/apis/batch/v1/namespaces/ns/jobs");

        using var response = await invoker.SendAsync(request, TestContext.Current.CancellationToken);

        // KubernetesClient deserialises from ReadAsStream synchronously: it must get the buffered copy, not the network.
        Assert.True(body.AsyncReads > 0);
        using var reader = new StreamReader(response.Content.ReadAsStream(TestContext.Current.CancellationToken));
        Assert.Equal("{\"kind\":\"Job\"}", await reader.ReadToEndAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("https://api/api/v1/namespaces/ns/pods?labelSelector=a%3Db&watch=true&timeoutSeconds=300")]
    [InlineData("https://api/apis/syllabus.dev/v1alpha1/trainingruns?watch=true")]
    public async Task A_watch_is_streamed_not_buffered(string uri)
    {
        var body = new AsyncOnlyStream("{\"type\":\"ADDED\"}\n"u8.ToArray());
        using var invoker = new HttpMessageInvoker(new ResponseBufferingHandler { InnerHandler = new Answer(body) });
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);

        using var response = await invoker.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(0, body.AsyncReads);
    }

    [Theory]
    [InlineData("https://api/api/v1/namespaces/ns/pods", false)]
    [InlineData("https://api/api/v1/namespaces/ns/pods?watch=false", false)]
    [InlineData("https://api/api/v1/namespaces/ns/pods?labelSelector=watch%3Dtrue", false)]
    [InlineData("https://api/api/v1/namespaces/ns/pods?watch=true", true)]
    [InlineData("https://api/api/v1/namespaces/ns/pods?limit=5&watch=True", true)]
    public void Watches_are_recognised_by_their_query_parameter(string uri, bool watch) =>
        Assert.Equal(watch, ResponseBufferingHandler.IsWatch(new Uri(uri)));

    private sealed class Answer(Stream body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(body), RequestMessage = request });
    }

    /// <summary>A network-like body: asynchronous reads only; a synchronous read fails the test.</summary>
    private sealed class AsyncOnlyStream(byte[] data) : Stream
    {
        private int position;

        public int AsyncReads { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => throw new InvalidOperationException("a synchronous read of the network stream");

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            AsyncReads++;
            await Task.Yield();
            var n = Math.Min(buffer.Length, data.Length - position);
            data.AsMemory(position, n).CopyTo(buffer);
            position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
