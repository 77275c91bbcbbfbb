using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Syllabus.Testing;

/// <summary>
/// A child process (etcd, kube-apiserver, a test container, ...) that dies with the test process. It runs
/// under a small bash guard that holds the read end of a pipe whose write end only this process has: when
/// the test process exits for any reason (even SIGKILL) the pipe reaches EOF and the guard terminates the
/// child's whole process group. No prctl, no polling of PIDs.
/// </summary>
internal sealed class ManagedProcess : IAsyncDisposable
{
    // The child runs in its own process group (set -m) so that shells' children die with it. A background
    // reader waits for EOF on our stdin pipe; then it sends TERM to the group and KILL after the grace period
    // (tenths of a second, the last number written to stdin before EOF; 5 s when none was). When the
    // child exits first, the reader and any leftovers of the group are killed. The guard's own stderr is
    // silenced (job notices); the child's goes to the log.
    private const string GuardScript = """
        set -m
        exec 3<&0 </dev/null 4>&2 2>/dev/null
        "$@" 2>&4 3<&- 4>&- &
        child=$!
        {
          grace=50
          while read -r -u 3 line; do [[ $line =~ ^[0-9]+$ ]] && grace=$line; done
          kill -TERM -- -"$child"
          for _ in $(seq "$grace"); do kill -0 "$child" || exit 0; sleep 0.1; done
          kill -KILL -- -"$child"
        } 4>&- &
        watcher=$!
        exec 3<&- 4>&-
        # With job control, wait also returns when the child is stopped (SIGSTOP, a test freezing it): wait again.
        while :; do
          wait "$child"
          rc=$?
          kill -0 "$child" 2>/dev/null || break
          sleep 0.1
        done
        kill "$watcher"
        kill -KILL -- -"$child"
        exit "$rc"
        """;

    private readonly Process process;
    private readonly FileStream log;
    private readonly Task pump;
    private int disposed;

    private ManagedProcess(string name, Process process, string logPath, FileStream log, Task pump)
    {
        Name = name;
        this.process = process;
        LogPath = logPath;
        this.log = log;
        this.pump = pump;
    }

    public string Name { get; }

    public string LogPath { get; }

    public bool HasExited => process.HasExited;

    public int? ExitCode => process.HasExited ? process.ExitCode : null;

    public static ManagedProcess Start(string name, string executable, IEnumerable<string> arguments, string logPath, string? workingDirectory = null)
    {
        if (!File.Exists(executable))
        {
            throw new FileNotFoundException($"{name}: executable {executable} not found", executable);
        }

        var target = new ProcessStartInfo(executable) { WorkingDirectory = workingDirectory ?? Path.GetDirectoryName(logPath)! };
        foreach (var argument in arguments)
        {
            target.ArgumentList.Add(argument);
        }

        return Start(name, target, logPath);
    }

    /// <summary>Starts <paramref name="target"/> (FileName, ArgumentList, Environment, WorkingDirectory) under the guard; stdout and stderr go to <paramref name="logPath"/>.</summary>
    public static ManagedProcess Start(string name, ProcessStartInfo target, string logPath)
    {
        if (!string.IsNullOrEmpty(target.Arguments))
        {
            throw new ArgumentException($"{name}: use ProcessStartInfo.ArgumentList, not Arguments", nameof(target));
        }

        var startInfo = new ProcessStartInfo("/bin/bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = string.IsNullOrEmpty(target.WorkingDirectory) ? Path.GetDirectoryName(logPath)! : target.WorkingDirectory,
        };
        startInfo.Environment.Clear();
        foreach (var (key, value) in target.Environment)
        {
            startInfo.Environment[key] = value;
        }

        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add(GuardScript);
        startInfo.ArgumentList.Add(name);
        startInfo.ArgumentList.Add(target.FileName);
        foreach (var argument in target.ArgumentList)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Unbuffered: what the process wrote is readable (ReadContainerLog, Tail) while it still runs.
        var log = new FileStream(logPath, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, useAsync: true);
        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{name}: could not start {target.FileName}");
        }
        catch
        {
            log.Dispose();
            throw;
        }

        var pump = Task.WhenAll(
            process.StandardOutput.BaseStream.CopyToAsync(log),
            process.StandardError.BaseStream.CopyToAsync(log));
        return new ManagedProcess(name, process, logPath, log, pump);
    }

    public int ProcessId => process.Id;

    /// <summary>Waits for the process to exit and its output to be written; returns the exit code (128 + signal when killed).</summary>
    public async Task<int> WaitForExitAsync(CancellationToken ct)
    {
        await process.WaitForExitAsync(ct);
        try
        {
            await pump.WaitAsync(TimeSpan.FromSeconds(5), ct);
        }
        catch (TimeoutException)
        {
        }

        await log.FlushAsync(ct);
        return process.ExitCode;
    }

    /// <summary>The last lines of the process's output, for error messages.</summary>
    public string Tail(int lines = 40) => ReadTail(LogPath, lines);

    internal static string ReadTail(string path, int lines)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            const int MaxBytes = 16 * 1024;
            if (stream.Length > MaxBytes)
            {
                stream.Seek(-MaxBytes, SeekOrigin.End);
            }

            using var reader = new StreamReader(stream, Encoding.UTF8);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(could not read {path}: {e.Message})";
        }
    }

    /// <summary>Throws with the output tail if the process has exited.</summary>
    public void ThrowIfExited()
    {
        if (process.HasExited)
        {
            // Let the last output reach the log before quoting it.
            try
            {
                pump.Wait(TimeSpan.FromSeconds(2));
                log.Flush();
            }
            catch (Exception e) when (e is AggregateException or IOException or ObjectDisposedException)
            {
            }

            throw new InvalidOperationException(
                $"{Name} exited with code {process.ExitCode}; last output ({LogPath}):\n{Tail()}");
        }
    }

    /// <summary>Sends TERM to the process group, KILL once <paramref name="gracePeriod"/> has passed, and waits for the exit.</summary>
    public async Task StopAsync(TimeSpan gracePeriod)
    {
        if (process.HasExited)
        {
            return;
        }

        try
        {
            // The guard's watcher takes the last number before EOF as the grace period; EOF starts the stop.
            var tenths = (long)Math.Ceiling(Math.Max(0, gracePeriod.TotalMilliseconds) / 100);
            await process.StandardInput.WriteLineAsync(tenths.ToString(System.Globalization.CultureInfo.InvariantCulture));
            process.StandardInput.Close();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Already closed by an earlier stop: that one's grace period applies.
        }

        using var cts = new CancellationTokenSource(gracePeriod + TimeSpan.FromSeconds(3));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        // A clean etcd shutdown on TERM, KILL after 5 s.
        await StopAsync(TimeSpan.FromSeconds(5));

        try
        {
            await pump.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }

        await log.DisposeAsync();
        process.Dispose();
    }
}

/// <summary>Free loopback ports. The OS picks them; a tiny race remains between probing and binding.</summary>
internal static class FreePorts
{
    public static int Next()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }
}

/// <summary>
/// Temporary directories named after the process that made them (prefix-PID-...), so a later run can delete
/// the ones whose owner died without cleaning up (SIGKILL, a crashed test host).
/// </summary>
internal static class OwnedTempDirectories
{
    public static string Create(string parent, string prefix)
    {
        Sweep(parent, prefix);
        var path = Path.Combine(parent, $"{prefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Sweep(string parent, string prefix)
    {
        if (!Directory.Exists(parent) || !Directory.Exists("/proc"))
        {
            return;
        }

        foreach (var directory in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            var rest = Path.GetFileName(directory)[prefix.Length..];
            var dash = rest.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && int.TryParse(rest[..dash], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)
                && !Directory.Exists($"/proc/{pid}"))
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }
    }
}
