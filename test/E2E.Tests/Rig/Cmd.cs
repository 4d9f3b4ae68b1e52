using System.Diagnostics;
using System.Text;

namespace Csshim.E2E.Rig;

public sealed record CmdResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    public string Output => Stdout + Stderr;

    /// <summary>Everything a failed assertion needs to explain itself.</summary>
    public override string ToString() => $"`{Command}` exited {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";

    public CmdResult MustSucceed()
    {
        if (ExitCode != 0)
            throw new InvalidOperationException(ToString());
        return this;
    }
}

/// <summary>Runs client commands (docker, ctr, podman, csshim) with a deadline, so a hung client fails the test
/// instead of the whole run.</summary>
public static class Cmd
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static CmdResult Run(string file, IEnumerable<string> args, IDictionary<string, string>? env = null,
        TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env != null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        var text = file + " " + string.Join(' ', psi.ArgumentList);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {text}");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? DefaultTimeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            return new CmdResult(text, -1, stdout.Result, stderr.Result + $"\n(timed out after {(timeout ?? DefaultTimeout).TotalSeconds}s)");
        }
        p.WaitForExit();
        return new CmdResult(text, p.ExitCode, stdout.Result, stderr.Result);
    }

    public static CmdResult Run(string file, params string[] args) => Run(file, (IEnumerable<string>)args);

    public static CmdResult Shell(string script, TimeSpan? timeout = null) => Run("/bin/sh", ["-c", script], null, timeout);
}
