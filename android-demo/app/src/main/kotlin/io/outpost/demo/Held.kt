package io.outpost.demo

import androidx.lifecycle.ViewModel

/**
 * An androidx ViewModel that only owns one of the plain-Kotlin view-models of :viewmodels and
 * closes it when cleared (which cancels its coroutines, e.g. a running sync). Screens get it with
 * `viewModel(key = …) { Held(SomeViewModel(…)) }`: the key must differ per view-model.
 */
class Held<T : AutoCloseable>(val model: T) : ViewModel(model)
