using Newtonsoft.Json.Linq;
using static Csshim.Reliability.Tests.Support.RawProcess;

namespace Csshim.Reliability.Tests;

/// <summary>
/// Exact forwarding: argv reaches the runtime byte for byte (arguments that are not valid UTF-8 included), whether
/// csshim execs the runtime (state, exec) or spawns it and acts after (create, delete); a runtime child's signal death
/// is csshim's own; and under a terminal a Ctrl-C reaches the container as many times as without csshim.
/// </summary>
[TestFixture]
public class ForwardingTests : SandboxFixture
{
    /// <summary>Not UTF-8: lone bytes, a broken two-byte sequence, an encoded surrogate.</summary>
    private static readonly byte[] Odd = [0xff, 0xfe, (byte)'x', 0xc3, 0x28, 0xed, 0xa0, 0x80];

    private static byte[] WithOdd(string before, string after = "") => [.. Bytes(before), .. Odd, .. Bytes(after)];

    /// <summary>Where files with such names go: .NET cannot name them to delete them, rm can.</summary>
    private string OddDir => Path.Combine(sb.Dir, "odd");

    [SetUp]
    public void MakeOddDir() => Directory.CreateDirectory(OddDir);

    [TearDown]
    public void RemoveOddDir() => Proc.Run("/bin/rm", ["-rf", "--one-file-system", OddDir], sb.Logs);

    /// <summary>csshim's argv with this sandbox's settings: [csshim, own flags, runtime globals, extra globals, --root R, args].</summary>
    private byte[][] ShimArgv(RuntimeUnderTest rt, IEnumerable<byte[]> extraGlobals, params byte[][] args) =>
        [Bytes(CsshimBinary.Require()), Bytes("--shim-runtime"), Bytes(rt.Path), Bytes("--shim-state-dir"), Bytes(sb.StateDir),
            Bytes("--allow-rootfs-tar-annotation"), .. Forwarded(rt, extraGlobals, args)];

    /// <summary>What the runtime must get for those: csshim's own flags gone, every other word as it came.</summary>
    private byte[][] Forwarded(RuntimeUnderTest rt, IEnumerable<byte[]> extraGlobals, params byte[][] args) =>
        [.. rt.GlobalArgs.Select(Bytes), .. extraGlobals, Bytes("--root"), Bytes(sb.RootOf(rt)), .. args];

    private static string Show(IEnumerable<byte[]> argv) => string.Join(' ', argv.Select(a => Convert.ToHexString(a)));

    // ---- argv byte for byte ----

    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void Argv_reaches_the_runtime_byte_for_byte(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var spy = SpyRuntime.Over(sb, rt);
        // A global flag each runtime knows and that changes nothing here, its value not UTF-8.
        byte[][] odd = rt.IsRunsc ? [Bytes("--debug-log"), WithOdd(Path.Combine(OddDir, "debug-"), ".log")] : [Bytes("--criu"), WithOdd("/nonexistent/criu-")];
        var bundle = sb.Bundle("argv", ["sleep", "1000"]);
        var id = sb.Track(rt, "argv");
        var pidFile = WithOdd(Path.Combine(OddDir, "pid-"));
        byte[][] runscStaging = rt.IsRunsc ? [Bytes("--overlay2=none"), Bytes("--host-fifo=open")] : [];

        // create and delete are spawned (csshim acts after them), state and exec are exec'd.
        var steps = new (string Word, byte[][] Args, int Status, byte[][] Prefix)[]
        {
            ("create", [Bytes("create"), Bytes("--bundle"), Bytes(bundle), Bytes("--pid-file"), pidFile, Bytes(id)], 0, runscStaging),
            ("start", [Bytes("start"), Bytes(id)], 0, []),
            ("exec", [Bytes("exec"), Bytes(id), Bytes("sh"), Bytes("-c"), WithOdd("exit 7 # ")], 7, []),
            ("state", [Bytes("state"), Bytes(id)], 0, []),
            ("delete", [Bytes("delete"), Bytes("--force"), Bytes(id)], 0, []),
        };
        foreach (var (word, args, status, prefix) in steps)
        {
            int before = spy.Calls().Count;
            var r = Run(ShimArgv(spy.Runtime, odd, args), sb.Logs);
            var call = spy.Calls().Skip(before).FirstOrDefault(c => c.Has(word));
            byte[][] expected = [.. prefix, .. Forwarded(rt, odd, args)];
            Assert.Multiple(() =>
            {
                Assert.That(r.How, Is.EqualTo($"exited {status}"), $"csshim {word}: {r}");
                Assert.That(call, Is.Not.Null, $"the runtime got no {word} call");
                if (call is not null) Assert.That(Show(call.Argv), Is.EqualTo(Show(expected)), $"the {word} argv, as hex words");
            });
            if (word == "create")
                Assert.That(Run([Bytes("/usr/bin/find"), Bytes(OddDir), Bytes("-name"), Bytes("pid-*"), Bytes("-print0")], sb.Logs).StdoutBytes,
                    Is.EqualTo([.. pidFile, (byte)0]), "the runtime wrote its pid file under another name");
        }
        sb.AssertClean("after the forwarded calls");
    }

    /// <summary>csshim's own error line goes into the --log file the caller named, whatever its bytes.</summary>
    [Test]
    public void Own_log_line_goes_to_the_file_the_caller_named()
    {
        var rt = Runtimes.Runc;
        var log = WithOdd(Path.Combine(OddDir, "csshim-"), ".json");
        var r = Run(ShimArgv(rt, [Bytes("--log"), log, Bytes("--log-format"), Bytes("json")],
            Bytes("create"), Bytes("--bundle"), Bytes(sb.Bundle("b", ["true"])), Bytes("bad id")), sb.Logs);
        var listing = Run([Bytes("/usr/bin/find"), Bytes(OddDir), Bytes("-mindepth"), Bytes("1"), Bytes("-print0")], sb.Logs).StdoutBytes;
        var content = Run([Bytes("/bin/cat"), log], sb.Logs);
        Assert.Multiple(() =>
        {
            Assert.That(r.How, Is.EqualTo("exited 1"), r.ToString());
            Assert.That(Show(Split0(listing)), Is.EqualTo(Show([log])), "the files in the log dir, as hex names");
            Assert.That(content.Stdout, Does.Contain("invalid container id"), "the named log file's content");
        });
    }

    private static List<byte[]> Split0(byte[] bytes)
    {
        var words = new List<byte[]>();
        for (int start = 0, i = 0; i < bytes.Length; i++)
            if (bytes[i] == 0) { words.Add(bytes[start..i]); start = i + 1; }
        return words;
    }

    // ---- a runtime's signal death is csshim's ----

    public static IEnumerable<TestCaseData> SignalCases() =>
        from rt in new[] { RuntimeUnderTest.Runc, RuntimeUnderTest.Runsc2022 }
        from sub in new[] { "create", "delete" }
        from sig in new[] { ("TERM", 15), ("KILL", 9), ("SEGV", 11) }
        select new TestCaseData(rt, sub, sig.Item1, sig.Item2).SetName($"Runtime_killed_by_SIG{sig.Item1}_on_{sub}_{rt}");

    [TestCaseSource(nameof(SignalCases))]
    public void Runtime_dying_of_a_signal_makes_csshim_die_of_it(string runtime, string subcommand, string signal, int number)
    {
        var rt = Runtimes.Named(runtime);
        var spy = SpyRuntime.Over(sb, rt, new SpyAction(subcommand, Signal: signal));
        var bundle = sb.Bundle("sig", ["sleep", "1000"], ArchivePolicyTests.Annotated(sb.Archive("sig", Sandbox.Text("dir/file", "x"))));
        var id = sb.Track(rt, "sig");
        string[] allow = ["--allow-rootfs-tar-annotation"];
        if (subcommand == "delete")
        {
            var create = sb.Shim(spy.Runtime, ["create", "--bundle", bundle, id], allow);
            Assert.That(create.Status, Is.Zero, create.ToString());
        }
        var config = File.ReadAllBytes(Path.Combine(bundle, "config.json"));
        var mounts = HostState.MountsUnder(sb.Dir);
        byte[][] args = subcommand == "create" ? [Bytes("create"), Bytes("--bundle"), Bytes(bundle), Bytes(id)] : [Bytes("delete"), Bytes("--force"), Bytes(id)];

        var alone = Run([Bytes(spy.Runtime.Path), .. Forwarded(rt, [], args)], sb.Logs);
        var shim = Run(ShimArgv(spy.Runtime, [], args), sb.Logs);
        Assert.Multiple(() =>
        {
            Assert.That(alone.How, Is.EqualTo($"killed by signal {number}"), $"precondition: the runtime alone: {alone}");
            Assert.That(shim.How, Is.EqualTo(alone.How), $"csshim's end (runtime alone: {alone.How}): {shim}");
            Assert.That(File.ReadAllBytes(Path.Combine(bundle, "config.json")), Is.EqualTo(config), "config.json changed");
            if (subcommand == "create")
            {
                Assert.That(sb.Stagings(), Is.Empty, "a staging was left by the failed create");
                Assert.That(HostState.MountsUnder(sb.Dir), Is.Empty, "mounts left by the failed create");
                Assert.That(sb.RuntimeKnows(rt, id), Is.False, "the container exists");
            }
            else
            {
                // The runtime never deleted the container: its staging must stay, mounted.
                Assert.That(sb.StatusOf(rt, id), Is.EqualTo("created"), "the container");
                Assert.That(HostState.MountsUnder(sb.Dir), Is.EqualTo(mounts), "the staging's mounts");
            }
        });
        Lifecycle.DeleteAndAssertClean(sb, rt, id);
    }

    // ---- a terminal's Ctrl-C is delivered once ----

    private const int Presses = 3;

    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void Ctrl_C_reaches_the_container_as_often_as_without_csshim(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        Directory.CreateDirectory(Path.Combine(sb.Rootfs, "out"));
        var (directBundle, directOut) = CountingBundle("direct");
        var (shimBundle, shimOut) = CountingBundle("shim");
        string[] direct = [rt.Path, .. rt.GlobalArgs, "--root", sb.RootOf(rt), "run", "--bundle", directBundle, sb.Track(rt, "tty-direct")];
        string[] shim = [CsshimBinary.Require(), "--shim-runtime", rt.Path, "--shim-state-dir", sb.StateDir, .. rt.GlobalArgs,
            "--root", sb.RootOf(rt), "run", "--bundle", shimBundle, sb.Track(rt, "tty-shim")];

        // Side by side: the same presses, a second apart, to the runtime alone and to csshim.
        PtyResult? alone = null, through = null;
        var threads = new[]
        {
            new Thread(() => alone = PtyDriver.Run(sb, direct, Path.Combine(directOut, "ready"), Presses)),
            new Thread(() => through = PtyDriver.Run(sb, shim, Path.Combine(shimOut, "ready"), Presses)),
        };
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.That(alone, Is.Not.Null, "the runtime's run under the pty failed");
        Assert.That(through, Is.Not.Null, "csshim's run under the pty failed");

        TestContext.Out.WriteLine($"runtime alone: {alone}; SIGINTs counted: {Count(directOut)}");
        TestContext.Out.WriteLine($"csshim: {through}; SIGINTs counted: {Count(shimOut)}");
        Assert.Multiple(() =>
        {
            Assert.That(File.Exists(Path.Combine(shimOut, "ready")), Is.True, $"the container never ran under csshim: {through}");
            Assert.That(Count(shimOut), Is.EqualTo(Count(directOut)), "SIGINTs the container got: csshim vs the runtime alone");
            Assert.That(through!.WaitStatus, Is.EqualTo(alone!.WaitStatus), "the raw wait status: csshim vs the runtime alone");
            Assert.That(sb.Stagings(), Is.Empty, "the run's staging is left");
            Assert.That(HostState.MountsUnder(sb.Dir), Is.Empty, "the run's mounts are left");
        });
    }

    /// <summary>A bundle whose process counts the SIGINTs it gets into /out/count (a host dir), for about 4 s.</summary>
    private (string Bundle, string Out) CountingBundle(string name)
    {
        var output = Path.Combine(sb.Dir, "tty-" + name);
        Directory.CreateDirectory(output);
        var bundle = sb.Bundle("tty-" + name, ["sh", "-c",
            "n=0; trap 'n=$((n+1)); echo $n > /out/count' INT; echo ready > /out/ready; " +
            "i=0; while [ $i -lt 40 ]; do sleep 0.1; i=$((i+1)); done; echo $n > /out/done"]);
        var config = Path.Combine(bundle, "config.json");
        var spec = JObject.Parse(File.ReadAllText(config));
        ((JArray)spec["mounts"]!).Add(new JObject
        {
            ["destination"] = "/out", ["type"] = "bind", ["source"] = output, ["options"] = new JArray("rbind", "rw"),
        });
        File.WriteAllText(config, spec.ToString());
        return (bundle, output);
    }

    private static int Count(string output)
    {
        var file = Path.Combine(output, "count");
        return File.Exists(file) ? int.Parse(File.ReadAllText(file).Trim()) : 0;
    }
}
