package vision

// Entry points for the external tests that run one layer of a loaded model
// on a given input, to find which layer an error comes from.

// EVABlocks, QFormerLayers and SwinBlocks count the layers of a model.
func (m *Model) EVABlocks() int     { return len(m.eva.blocks) }
func (m *Model) QFormerLayers() int { return len(m.qformer.layers) }
func (m *Model) SwinBlocks(stage int) int {
	if stage >= len(m.swin.stages) {
		return -1
	}
	return len(m.swin.stages[stage].blocks)
}

// EVABlockForTest runs EVA block i on x [N,D] and returns a copy of the result.
func (m *Model) EVABlockForTest(i int, x []float32) []float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, _ := m.states()
	copy(s.x, x)
	m.eva.block(m.ex, s, &m.eva.blocks[i])
	return append([]float32(nil), s.x[:len(x)]...)
}

// QFormerForTest runs the Q-Former on image features img [N,E] (the output
// of ln_vision) and calls layer(i, x) with its queries after the embeddings'
// LayerNorm (i = 0) and after each layer i >= 1. With from >= 1, it instead
// runs layer from alone on the queries x.
func (m *Model) QFormerForTest(img []float32, from int, x []float32, layer func(int, []float32)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, q := m.states()
	qf := m.qformer
	N := m.eva.config.Tokens()
	copy(q.img, img)
	if from >= 1 {
		copy(q.x, x)
		qf.layer(m.ex, q, &qf.layers[from-1], N)
		layer(from, q.x)
		return
	}
	qf.embedNorm.apply(m.ex, q.x, qf.queryTokens, qf.config.Queries)
	layer(0, q.x)
	for i := range qf.layers {
		qf.layer(m.ex, q, &qf.layers[i], N)
		layer(i+1, q.x)
	}
}

// SwinBlockForTest runs block b of Swin stage s on x [L,C] and returns a
// copy of the result.
func (m *Model) SwinBlockForTest(s, b int, x []float32) []float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	sw := m.swinStates()
	st := &m.swin.stages[s]
	copy(sw.x, x)
	m.swin.block(m.ex, sw, st, &st.blocks[b])
	return append([]float32(nil), sw.x[:len(x)]...)
}
