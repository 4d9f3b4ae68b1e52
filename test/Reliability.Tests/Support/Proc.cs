using System.Diagnostics;

namespace Csshim.Reliability.Tests.Support;

public sealed record ProcResult(int Status, string Stdout, string Stderr, bool TimedOut, string StdoutFile)
{
    public override string ToString() => $"status {Status}{(TimedOut ? " (timed out)" : "")}; stderr: {Stderr.Trim()}; stdout: {Stdout.Trim()}";
}

/// <summary>Runs a program with its stdout/stderr in files: a runsc sandbox or runc container inherits the create
/// call's stdio and outlives it, so a pipe would never reach end of file (and the container's output lands there).</summary>
public static class Proc
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    public static ProcResult Run(string program, IEnumerable<string> args, string outputDir, TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? env = null)
    {
        Directory.CreateDirectory(outputDir);
        var stem = Path.Combine(outputDir, $"{Path.GetFileName(program)}-{Guid.NewGuid():N}");
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var a in new[] { "-c", "out=$1; err=$2; shift 2; exec \"$@\" >\"$out\" 2>\"$err\" </dev/null", "sh",
                     stem + ".out", stem + ".err", program }.Concat(args))
            psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        bool exited = p.WaitForExit(timeout ?? DefaultTimeout);
        if (!exited)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
        }
        return new ProcResult(exited ? p.ExitCode : -1, ReadOrEmpty(stem + ".out"), ReadOrEmpty(stem + ".err"), !exited, stem + ".out");
    }

    public static ProcResult Must(string program, IEnumerable<string> args, string outputDir)
    {
        var r = Run(program, args, outputDir);
        if (r.Status != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {r}");
        return r;
    }

    public static string ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
}
