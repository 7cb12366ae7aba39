using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using LlmFunctions.FunctionsHost.Rpc;
using RpcException = Grpc.Core.RpcException;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// The one gRPC event stream with the worker: it sends requests, matches each response to its request by
/// <c>request_id</c> (the worker echoes it on every response), and turns the worker's <c>RpcLog</c> messages into
/// log lines. Writes go through one queue because a gRPC stream takes one write at a time.
/// </summary>
internal sealed partial class WorkerChannel(string workerId, ILoggerFactory loggers)
{
    private readonly Channel<StreamingMessage> _outbound = Channel.CreateUnbounded<StreamingMessage>(new() { SingleReader = true });
    private readonly ConcurrentDictionary<string, TaskCompletionSource<StreamingMessage>> _pending = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<string, ILogger> _workerLoggers = new();
    private readonly ILogger _logger = loggers.CreateLogger<WorkerChannel>();
    private int _attached;

    /// <summary>Completes when the worker has opened its stream with <c>StartStream</c>.</summary>
    public Task Connected => _connected.Task;

    /// <summary>Serves the worker's stream until it ends (bound to <c>FunctionRpc.EventStream</c>).</summary>
    public async Task RunAsync(
        IAsyncStreamReader<StreamingMessage> requests, IServerStreamWriter<StreamingMessage> responses, CancellationToken cancellationToken)
    {
        if (!await requests.MoveNext(cancellationToken) || requests.Current.ContentCase != StreamingMessage.ContentOneofCase.StartStream)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "The first message must be StartStream."));
        }

        if (requests.Current.StartStream.WorkerId != workerId || Interlocked.Exchange(ref _attached, 1) == 1)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"Unknown or second stream from worker '{requests.Current.StartStream.WorkerId}'."));
        }

        _connected.TrySetResult();
        var pump = PumpAsync(responses, cancellationToken);
        try
        {
            while (await requests.MoveNext(cancellationToken))
            {
                Dispatch(requests.Current);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or RpcException)
        {
            Log.StreamFailed(_logger, ex.Message);
        }
        finally
        {
            _outbound.Writer.TryComplete();
            foreach (var id in _pending.Keys)
            {
                if (_pending.TryRemove(id, out var waiter))
                {
                    waiter.TrySetException(new IOException("The worker's stream ended before it answered."));
                }
            }

            await pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Sends a request and waits for the worker's answer to it.</summary>
    public async Task<StreamingMessage> SendAsync(StreamingMessage request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        request.RequestId = Guid.NewGuid().ToString("N");
        var answer = new TaskCompletionSource<StreamingMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[request.RequestId] = answer;
        using var registration = cancellationToken.Register(() =>
        {
            if (_pending.TryRemove(request.RequestId, out var waiter))
            {
                waiter.TrySetCanceled(cancellationToken);
            }
        });
        if (!_outbound.Writer.TryWrite(request))
        {
            _pending.TryRemove(request.RequestId, out _);
            throw new IOException("The worker's stream has ended.");
        }

        return await answer.Task;
    }

    /// <summary>Sends a message the worker does not answer (<c>WorkerTerminate</c>, <c>InvocationCancel</c>).</summary>
    public bool Post(StreamingMessage message)
    {
        message.RequestId = Guid.NewGuid().ToString("N");
        return _outbound.Writer.TryWrite(message);
    }

    private async Task PumpAsync(IServerStreamWriter<StreamingMessage> responses, CancellationToken cancellationToken)
    {
        await foreach (var message in _outbound.Reader.ReadAllAsync(cancellationToken))
        {
            await responses.WriteAsync(message, cancellationToken);
        }
    }

    private void Dispatch(StreamingMessage message)
    {
        if (message.ContentCase == StreamingMessage.ContentOneofCase.RpcLog)
        {
            WriteWorkerLog(message.RpcLog);
        }
        else if (message.ContentCase == StreamingMessage.ContentOneofCase.None)
        {
            // The worker answers WorkerTerminate with an empty message.
        }
        else if (_pending.TryRemove(message.RequestId, out var waiter))
        {
            waiter.TrySetResult(message);
        }
        else
        {
            // An answer to a request nobody waits for any more (a cancelled invocation).
            Log.Unexpected(_logger, message.ContentCase.ToString(), message.RequestId);
        }
    }

    private void WriteWorkerLog(RpcLog log)
    {
        var category = string.IsNullOrEmpty(log.Category) ? "Worker" : log.Category;
        var logger = _workerLoggers.GetOrAdd(category, c => loggers.CreateLogger("Worker." + c));
        var level = log.Level switch
        {
            RpcLog.Types.Level.Trace => LogLevel.Trace,
            RpcLog.Types.Level.Debug => LogLevel.Debug,
            RpcLog.Types.Level.Information => LogLevel.Information,
            RpcLog.Types.Level.Warning => LogLevel.Warning,
            RpcLog.Types.Level.Error => LogLevel.Error,
            RpcLog.Types.Level.Critical => LogLevel.Critical,
            _ => LogLevel.None,
        };
        var text = log.Exception is { } ex ? $"{log.Message}{Environment.NewLine}{ex.Message}{Environment.NewLine}{ex.StackTrace}" : log.Message;
        Log.Worker(logger, level, text);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Message = "{Message}")]
        public static partial void Worker(ILogger logger, LogLevel level, string message);

        [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "{Content} from the worker for request {RequestId}, which nobody waits for.")]
        public static partial void Unexpected(ILogger logger, string content, string requestId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "The worker's stream ended: {Reason}")]
        public static partial void StreamFailed(ILogger logger, string reason);
    }
}
