using Csshim.OciSpec;
using System.Text.Json.Nodes;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`csshim demo`: the snapshot round trip on a busybox bundle, through csshim itself — a container
/// writes /dir/file, csshim snapshots it while it runs, a new container started with the annotation reads it.</summary>
internal static class DemoCommand
{
    private const string Busybox = "/bin/busybox";
    private const string Expected = "hello world";

    public static int Run(CommandCall call)
    {
        var invocation = call.Invocation;
        if (!File.Exists(Busybox))
            throw new ShimException($"the demo needs {Busybox} (Debian: apt-get install busybox-static)");
        var work = Directory.CreateTempSubdirectory("csshim-demo-").FullName;
        var writer = $"csshim-demo-{Environment.ProcessId}-writer";
        var reader = $"csshim-demo-{Environment.ProcessId}-reader";
        var shim = new DemoShim(invocation, work);
        try
        {
            var rootfs = MakeRootfs(Path.Combine(work, "rootfs"));
            var writerBundle = MakeBundle(invocation, Path.Combine(work, "writer"), rootfs,
                ["sh", "-c", $"mkdir -p /dir && echo {Expected} > /dir/file && sleep 1000"], annotations: null);
            var snapshot = Path.Combine(work, "snapshot.tar");
            var readerBundle = MakeBundle(invocation, Path.Combine(work, "reader"), rootfs,
                ["cat", "/dir/file"], new JsonObject { [RootfsTarAnnotation.BaseKey] = snapshot });

            Step($"runtime: {invocation.Runtime.Path}");
            Step($"1. container {writer} writes /dir/file");
            shim.Must("create", "--bundle", writerBundle, writer);
            shim.Must("start", writer);
            WaitForFile(invocation, writer, "/dir/file");
            Step($"2. csshim tar rootfs-upper --file {snapshot} {writer}  (while it runs)");
            shim.Must("tar", "rootfs-upper", "--file", snapshot, writer);
            Step($"   snapshot: {new FileInfo(snapshot).Length} bytes");
            shim.Must("delete", "--force", writer);
            Step($"3. new container {reader} with --annotation {RootfsTarAnnotation.BaseKey}={snapshot} runs cat /dir/file");
            var output = shim.Must("--allow-rootfs-tar-annotation", "run", "--bundle", readerBundle, reader).Trim();
            Step($"   it prints: {output}");
            if (output != Expected)
                throw new ShimException($"demo failed: expected \"{Expected}\", the restored container printed \"{output}\"");
            Step("demo passed: the snapshot carried the container's change into a new container");
            return 0;
        }
        finally
        {
            shim.Quiet("delete", "--force", writer);
            shim.Quiet("delete", "--force", reader);
            Directory.Delete(work, recursive: true);
        }
    }

    private static void Step(string line)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }

    private static void WaitForFile(Invocation invocation, string id, string path)
    {
        var stage = new Stager(invocation).StageFor(id);
        var upper = Path.Combine(StageRecord.Load(stage.RecordFile)?.Upper ?? stage.Upper, path.TrimStart('/'));
        for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline; Thread.Sleep(100))
            if (File.Exists(upper) && File.ReadAllText(upper).Trim() == Expected) return;
        throw new ShimException($"demo failed: container {id} did not write {path} within 60 s");
    }

    private static string MakeRootfs(string rootfs)
    {
        foreach (var dir in new[] { "bin", "etc", "proc", "sys", "dev", "tmp", "root" })
            Directory.CreateDirectory(Path.Combine(rootfs, dir));
        File.Copy(Busybox, Path.Combine(rootfs, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "cat", "echo", "mkdir", "sleep", "ls" })
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        return rootfs;
    }

    /// <summary>The runtime's own default spec, made to run args on a shared, writable busybox rootfs.</summary>
    private static string MakeBundle(Invocation invocation, string bundle, string rootfs, string[] args, JsonObject? annotations)
    {
        Directory.CreateDirectory(bundle);
        var (status, _, stderr) = RuntimeProcess.Capture(invocation.Runtime.Path, [.. invocation.Command.GlobalArgs, "spec"], bundle);
        if (status != 0) throw new ShimException($"demo: {invocation.Runtime.Path} spec failed: {stderr.Trim()}");
        var configPath = Path.Combine(bundle, "config.json");
        var spec = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        spec["process"]!["terminal"] = false;
        spec["process"]!["args"] = new JsonArray(args.Select(a => (JsonNode?)a).ToArray());
        spec["root"] = new JsonObject { ["path"] = rootfs, ["readonly"] = false };
        if (annotations is not null) spec["annotations"] = annotations;
        File.WriteAllText(configPath, spec.ToJsonString());
        return bundle;
    }

    /// <summary>csshim calling itself with the demo's settings, its output in a file (runsc may drop output on pipes).</summary>
    private sealed class DemoShim(Invocation invocation, string work)
    {
        private readonly List<string> globals =
        [
            "--shim-runtime", invocation.Runtime.Path, "--shim-state-dir", invocation.StateDir,
            "--shim-upper-size", invocation.UpperCaps.Size, .. invocation.Command.GlobalArgs,
        ];

        public string Must(params string[] args)
        {
            var (status, stdout, stderr) = Call(args);
            if (status != 0)
                throw new ShimException($"demo: csshim {string.Join(' ', args)} failed with status {status}: {stderr.Trim()}");
            return stdout;
        }

        public void Quiet(params string[] args) => Call(args);

        /// <summary>Output goes to files: a runsc sandbox inherits the create call's stdio and outlives it, so a
        /// pipe would never reach end of file.</summary>
        private (int, string, string) Call(string[] args)
        {
            var stdoutFile = Path.Combine(work, "stdout");
            var stderrFile = Path.Combine(work, "stderr");
            var (status, _, _) = RuntimeProcess.Capture("/bin/sh",
                ["-c", "out=$1; err=$2; shift 2; exec \"$@\" >\"$out\" 2>\"$err\" </dev/null", "sh", stdoutFile, stderrFile,
                 Router.SelfPath, .. globals, .. args]);
            return (status, File.ReadAllText(stdoutFile), File.ReadAllText(stderrFile));
        }
    }
}
