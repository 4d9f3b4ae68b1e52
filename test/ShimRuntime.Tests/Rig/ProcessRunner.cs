using NUnit.Framework;
using System.Diagnostics;

namespace Csshim.Tests.Rig;

/// <summary>What a finished command did.</summary>
public sealed record CommandResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() =>
        $"`{Command}` exited {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs a command with stdout/stderr redirected to files (runsc output can go missing on pipes that are not
/// plain files), stdin from /dev/null, and a hard timeout that kills the whole process tree.
/// </summary>
public static class ProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    public static CommandResult Run(string exe, IEnumerable<string> args, TimeSpan? timeout = null, string? workingDir = null)
    {
        using var running = RunningCommand.Start(exe, args, workingDir);
        return running.Wait(timeout ?? DefaultTimeout);
    }

    public static string Quote(string exe, IEnumerable<string> args) =>
        string.Join(' ', new[] { exe }.Concat(args).Select(a =>
            a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@".Contains(c)) ? a : $"'{a.Replace("'", "'\\''")}'"));
}

/// <summary>A started command whose output goes to files; wait for it or signal it.</summary>
public sealed class RunningCommand : IDisposable
{
    private readonly Process process;
    private readonly string outDir;
    public string Command { get; }
    public int Pid => process.Id;

    private RunningCommand(Process process, string outDir, string command)
    {
        this.process = process;
        this.outDir = outDir;
        Command = command;
    }

    public static RunningCommand Start(string exe, IEnumerable<string> args, string? workingDir = null)
    {
        var argList = args.ToList();
        var dir = Directory.CreateTempSubdirectory("csshim-cmd-").FullName;
        var command = ProcessRunner.Quote(exe, argList);
        // Through sh so the runtime's fds 1 and 2 are real files, not .NET's pipes.
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" </dev/null >\"$OUT_DIR/stdout\" 2>\"$OUT_DIR/stderr\"");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(exe);
        foreach (var a in argList) psi.ArgumentList.Add(a);
        psi.Environment["OUT_DIR"] = dir;
        if (workingDir != null) psi.WorkingDirectory = workingDir;
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {command}");
        return new RunningCommand(p, dir, command);
    }

    public bool HasExited => process.HasExited;

    public CommandResult Wait(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"`{Command}` did not finish within {timeout.TotalSeconds}s; killed.\n" +
                        $"stdout: {ReadOutput("stdout")}\nstderr: {ReadOutput("stderr")}");
        }
        process.WaitForExit();
        return new CommandResult(Command, process.ExitCode, ReadOutput("stdout"), ReadOutput("stderr"));
    }

    public void Signal(int signal)
    {
        if (Native.Kill(process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    private string ReadOutput(string name)
    {
        var path = Path.Combine(outDir, name);
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            try { process.Kill(entireProcessTree: true); process.WaitForExit(); } catch (InvalidOperationException) { }
        }
        process.Dispose();
        try { Directory.Delete(outDir, recursive: true); } catch (IOException) { }
    }
}
