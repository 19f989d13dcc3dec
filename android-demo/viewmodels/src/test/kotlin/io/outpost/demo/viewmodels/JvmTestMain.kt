package io.outpost.demo.viewmodels

import java.io.File
import kotlin.system.exitProcess
import org.junit.internal.TextListener
import org.junit.runner.JUnitCore

/**
 * JUnitCore over the given test classes (found in the jar by run-jvm-tests.sh); writes
 * "<run> <failed> <ignored>" to the result file for the script's closing line.
 *   JvmTestMainKt RESULT_FILE CLASS...
 */
fun main(args: Array<String>) {
    require(args.size >= 2) { "usage: JvmTestMainKt RESULT_FILE CLASS..." }
    val classes = args.drop(1).map { Class.forName(it) }
    val core = JUnitCore()
    core.addListener(TextListener(System.out))
    val result = core.run(*classes.toTypedArray())
    File(args[0]).writeText("${result.runCount} ${result.failureCount} ${result.ignoreCount}\n")
    System.out.flush()
    // Outpost's runtime threads are not daemons: leave explicitly.
    exitProcess(if (result.wasSuccessful()) 0 else 1)
}
