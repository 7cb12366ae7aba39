using System.Diagnostics;
using System.Text;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>A child process whose output is kept (for failure messages) and which is killed on dispose.</summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();

    private ChildProcess(Process process)
    {
        Process = process;
    }

    public Process Process { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="file"/>. With <paramref name="endsWithTheTests"/>, it runs under a shell that kills it once
    /// this process is gone (its stdin pipe closes), so a test run killed midway (SIGKILL, or a closed pipe when its output
    /// is cut short) leaves no server behind; the shell exits with the child's code when the child ends first.
    /// </summary>
    public static ChildProcess Start(string file, IEnumerable<string> args, IDictionary<string, string>? env = null, string? workingDirectory = null,
        bool endsWithTheTests = false)
    {
        var psi = new ProcessStartInfo(endsWithTheTests ? "bash" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = endsWithTheTests,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        if (endsWithTheTests)
        {
            psi.ArgumentList.Add("-c");
            // fd 3 keeps the pipe: a job started with & reads /dev/null, not the shell's stdin.
            psi.ArgumentList.Add("exec 3<&0; \"$@\" <&- 3<&- & child=$!; (read -r _ <&3; kill -KILL \"$child\" 2>/dev/null) & wait \"$child\"");
            psi.ArgumentList.Add("ends-with-the-tests");
            psi.ArgumentList.Add(file);
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Runs to completion (bounded) and returns exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout,
        IDictionary<string, string>? env = null)
    {
        await using var child = Start(file, args, env);
        using var cts = new CancellationTokenSource(timeout);
        await child.Process.WaitForExitAsync(cts.Token);
        child.Process.WaitForExit();
        return (child.Process.ExitCode, child.Output);
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (Output.Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            if (Process.HasExited)
            {
                throw new InvalidOperationException($"{Process.StartInfo.FileName} exited ({Process.ExitCode}) before printing '{text}':\n{Output}");
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{Process.StartInfo.FileName} did not print '{text}' within {timeout}:\n{Output}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
        }

        Process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
