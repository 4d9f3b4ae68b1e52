namespace Csshim.Tests;

/// <summary>
/// A busybox container through the whole OCI lifecycle, once with the runtime called directly and once through
/// csshim, from identical bundles; what the caller sees (exit statuses, output, state) must be the same.
/// </summary>
[PerRuntime]
public class LifecycleTests(string runtime) : IntegrationFixture(runtime)
{
    [Test]
    public void Run_GivesTheContainersExitStatusAndOutput_LikeTheRuntime()
    {
        var args = new[] { "sh", "-c", "echo out-line; echo err-line >&2; exit 7" };
        var direct = RunOnce(Direct(), NewBundle("direct", args));
        var shim = RunOnce(Shim(), NewBundle("shim", args));

        Assert.That(direct.Result.ExitCode, Is.EqualTo(7), $"the runtime itself: {direct.Result}");
        Assert.That(direct.Result.Stdout, Is.EqualTo("out-line\n"), $"the runtime itself: {direct.Result}");
        AssertSameOutcome("run", direct.Result, direct.Id, shim.Result, shim.Id);
    }

    [Test]
    public void Run_RestoresTheBundlesConfigAndUnstages()
    {
        var shim = Shim();
        var bundle = NewBundle("shim", "sh", "-c", "echo changed > /tmp/x; exit 0");
        var before = File.ReadAllBytes(bundle.ConfigPath);
        var run = RunOnce(shim, bundle);

        AssertSucceeded(run.Result, "csshim run");
        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(bundle.ConfigPath), Is.EqualTo(before),
                $"config.json after run is not the bundle's own, byte for byte: {File.ReadAllText(bundle.ConfigPath)}");
            Assert.That(NewMounts(), Is.Empty, "staging mounts after run exited");
            Assert.That(StagedContainers(shim), Is.Empty, "staging dirs after run exited");
            Assert.That(File.Exists(Path.Combine(bundle.Rootfs, "tmp", "x")), Is.False,
                "a write inside the container reached the bundle's rootfs");
        });
    }

    private (string Id, CommandResult Result) RunOnce(RuntimeCli cli, BusyboxBundle bundle)
    {
        var id = NewId(cli, "run");
        return (id, cli.Run("run", "--bundle", bundle.Dir, id));
    }

    [Test]
    public void CreateStartStateExecPsKillDelete_BehaveLikeTheRuntime()
    {
        // A client's own annotation must come through csshim's rewrite of config.json into state unchanged.
        var direct = Lifecycle(Direct(), NewBundle("direct", "sleep", "30").SetAnnotation("org.example.kept", "yes").Save());
        var shim = Lifecycle(Shim(), NewBundle("shim", "sleep", "30").SetAnnotation("org.example.kept", "yes").Save());
        Assert.That((string?)shim.States["created"]["annotations"]?["org.example.kept"], Is.EqualTo("yes"),
            $"csshim state annotations: {shim.States["created"]}");

        foreach (var step in direct.Steps.Keys)
            AssertSameOutcome(step, direct.Steps[step], direct.Id, shim.Steps[step], shim.Id);
        foreach (var status in direct.States.Keys)
        {
            var d = OutputNormalizer.State(direct.States[status]);
            var s = OutputNormalizer.State(shim.States[status]);
            Assert.That(JToken.DeepEquals(s, d), Is.True, $"state while {status}\nruntime: {d}\ncsshim: {s}");
        }
        Assert.That(shim.PsCount, Is.EqualTo(direct.PsCount), "processes listed by ps --format json");
        Assert.That(direct.ExecExit, Is.EqualTo(3), "exec exit status from the runtime itself");
    }

    private sealed record LifecycleRun(string Id, Dictionary<string, CommandResult> Steps,
        Dictionary<string, JObject> States, int PsCount, int ExecExit);

    /// <summary>The steps containerd-shim takes, asserting what must hold for either CLI.</summary>
    private LifecycleRun Lifecycle(RuntimeCli cli, BusyboxBundle bundle)
    {
        var id = NewId(cli, "life");
        var steps = new Dictionary<string, CommandResult>();
        var states = new Dictionary<string, JObject>();
        var pidFile = Path.Combine(bundle.Dir, "init.pid");
        var originalConfig = File.ReadAllBytes(bundle.ConfigPath);

        steps["create"] = cli.Run("create", "--bundle", bundle.Dir, "--pid-file", pidFile, id);
        AssertSucceeded(steps["create"], $"{cli.Label} create");
        if (cli.IsShim) AssertConfigChangedOnlyAsDocumented(cli, originalConfig, File.ReadAllBytes(bundle.ConfigPath));
        Assert.That(File.Exists(pidFile), Is.True, $"{cli.Label}: create wrote no pid file");
        states["created"] = StateOf(cli, id, bundle);
        Assert.That((int?)states["created"]["pid"], Is.EqualTo(ContainerExit.ReadPidFile(pidFile)),
            $"{cli.Label}: state pid vs pid file");

        steps["start"] = cli.Run("start", id);
        AssertSucceeded(steps["start"], $"{cli.Label} start");
        WaitForStatus(cli, id, "running");
        states["running"] = StateOf(cli, id, bundle);

        steps["exec"] = cli.Run("exec", id, "sh", "-c", "echo exec-out; echo exec-err >&2; exit 3");
        var ps = cli.Run("ps", "--format", "json", id);
        AssertSucceeded(ps, $"{cli.Label} ps");
        var psCount = JArray.Parse(ps.Stdout).Count;
        Assert.That(psCount, Is.GreaterThanOrEqualTo(1), $"{cli.Label}: ps lists no process: {ps}");

        // sleep as pid 1 ignores SIGTERM (no handler), so stop it with KILL as containerd does after a timeout.
        steps["kill"] = cli.Run("kill", id, "KILL");
        AssertSucceeded(steps["kill"], $"{cli.Label} kill");
        WaitForStop(cli, id, (int)states["created"]["pid"]!);
        states["stopped"] = StateOf(cli, id, bundle);

        if (cli.IsShim)
            Assert.That(NewMounts(), Is.Not.Empty, "csshim: no staging mount while its container exists");
        steps["delete"] = cli.Run("delete", id);
        AssertSucceeded(steps["delete"], $"{cli.Label} delete");
        steps["state after delete"] = cli.Run("state", id);
        Assert.That(steps["state after delete"].ExitCode, Is.Not.Zero, $"{cli.Label}: state after delete succeeded");
        if (cli.IsShim)
        {
            Assert.That(NewMounts(), Is.Empty, "csshim: staging mounts after delete");
            Assert.That(StagedContainers(cli), Is.Empty, "csshim: staging dirs after delete");
            Assert.That(File.ReadAllBytes(bundle.ConfigPath), Is.EqualTo(originalConfig),
                $"csshim: config.json after delete is not the bundle's own, byte for byte: {File.ReadAllText(bundle.ConfigPath)}");
        }
        return new LifecycleRun(id, steps, states, psCount, steps["exec"].ExitCode);
    }

    /// <summary>
    /// config.json while csshim has the container staged: the bundle's own in every field but those csshim documents
    /// changing — root.path (its overlay, under its state dir), its own dev.csshim.* annotations, and the
    /// dev.gvisor.tar.rootfs.upper* keys it removes once the archive is in the staged rootfs.
    /// </summary>
    private static void AssertConfigChangedOnlyAsDocumented(RuntimeCli cli, byte[] original, byte[] staged)
    {
        var bundles = ParseConfig(original);
        var csshims = ParseConfig(staged);
        var stagedRoot = (string?)csshims["root"]?["path"] ?? "";
        // Not Assert.Multiple: the messages print the whole config, once is enough.
        Assert.That(stagedRoot, Does.StartWith(cli.ShimStateDir + "/"), $"{cli.Label}: root.path after create");

        (bundles["root"] as JObject)?.Remove("path");
        (csshims["root"] as JObject)?.Remove("path");
        RemoveAnnotations(bundles, key => key == TarAnnotation || key.StartsWith(TarAnnotation + ".", StringComparison.Ordinal));
        RemoveAnnotations(csshims, OutputNormalizer.IsCsshimAnnotation);
        Assert.That(JToken.DeepEquals(csshims, bundles), Is.True,
            $"{cli.Label}: config.json after create differs from the bundle's beyond root.path and csshim's annotations\n" +
            $"bundle's: {bundles}\nafter create: {csshims}");
    }

    private const string TarAnnotation = "dev.gvisor.tar.rootfs.upper";

    /// <summary>As it is on disk: no date parsing, which would turn a date-like annotation into another string.</summary>
    private static JObject ParseConfig(byte[] json)
    {
        using var reader = new Newtonsoft.Json.JsonTextReader(new StringReader(System.Text.Encoding.UTF8.GetString(json)))
            { DateParseHandling = Newtonsoft.Json.DateParseHandling.None };
        return JObject.Load(reader);
    }

    /// <summary>Removes the matching annotations, and the annotations object itself once it is empty.</summary>
    private static void RemoveAnnotations(JObject config, Func<string, bool> match)
    {
        if (config["annotations"] is not JObject annotations) return;
        foreach (var key in annotations.Properties().Select(p => p.Name).Where(match).ToList())
            annotations.Remove(key);
        if (!annotations.HasValues) config.Remove("annotations");
    }

    /// <summary>`state` as JSON, with what is per-container checked here and the rest left for comparison.</summary>
    private static JObject StateOf(RuntimeCli cli, string id, BusyboxBundle bundle)
    {
        var r = cli.Run("state", id);
        AssertSucceeded(r, $"{cli.Label} state");
        var state = JObject.Parse(r.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That((string?)state["id"], Is.EqualTo(id), $"{cli.Label}: state id");
            Assert.That((string?)state["bundle"], Is.EqualTo(bundle.Dir), $"{cli.Label}: state bundle");
            if (state["rootfs"] is { } rootfs)
            {
                // runc reports config.json's root.path: the bundle's rootfs, or csshim's overlay of it.
                var path = (string?)rootfs ?? "";
                var ok = path == bundle.Rootfs || (cli.ShimStateDir != null && path.StartsWith(cli.ShimStateDir + "/"));
                Assert.That(ok, Is.True, $"{cli.Label}: state rootfs {path}");
            }
        });
        return state;
    }

    [TestCase("state")]
    [TestCase("start")]
    [TestCase("delete")]
    [TestCase("delete", "--force")]
    [TestCase("kill", null, "9")]
    [TestCase("exec", null, "true")]
    [TestCase("ps")]
    [TestCase("pause")]
    public void CommandOnAnUnknownContainer_FailsLikeTheRuntime(string command, string? flag = null, string? after = null)
    {
        string[] Args() => new[] { command, flag, "no-such-container", after }.OfType<string>().ToArray();
        var d = Direct().Run(Args());
        var s = Shim().Run(Args());
        AssertSameOutcome(string.Join(' ', Args()),
            d with { Stderr = d.Stderr.Replace("root-direct", "root-X") }, "",
            s with { Stderr = s.Stderr.Replace("root-shim", "root-X") }, "");
    }

    [Test]
    public void DeleteForce_OfACreatedContainer_Unstages()
    {
        var shim = Shim();
        var id = NewId(shim, "force");
        AssertSucceeded(shim.Run("create", "--bundle", NewBundle("shim", "sleep", "30").Dir, id), "csshim create");
        AssertSucceeded(shim.Run("delete", "--force", id), "csshim delete --force");
        Assert.Multiple(() =>
        {
            Assert.That(RuntimeCli.Direct(Runtime, shim.RootDir).Run("state", id).ExitCode, Is.Not.Zero,
                "container still known to the runtime");
            Assert.That(NewMounts(), Is.Empty, "staging mounts after delete --force");
            Assert.That(StagedContainers(shim), Is.Empty, "staging dirs after delete --force");
        });
    }
}
