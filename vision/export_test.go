package vision

// Entry points for the external tests that run one layer of a loaded model
// on a given input, to find which layer an error comes from.

// EVABlockForTest runs EVA block i on x [N,D] and returns a copy of the result.
func (m *Model) EVABlockForTest(i int, x []float32) []float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states()
	copy(m.eva.x, x)
	m.EVA.block(m.bl, m.eva, &m.EVA.Blocks[i], m.threads)
	return append([]float32(nil), m.eva.x[:len(x)]...)
}

// QFormerForTest runs the Q-Former on image features img [N,E] (the output
// of ln_vision) and calls layer(i, x) with its queries after the embeddings'
// LayerNorm (i = 0) and after each layer i >= 1. With from >= 1, it instead
// runs layer from alone on the queries x.
func (m *Model) QFormerForTest(img []float32, from int, x []float32, layer func(int, []float32)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states()
	qf, q, th := m.QFormer, m.qf, m.threads
	c := qf.Config
	N := m.EVA.Config.Tokens()
	copy(q.img, img)
	if from >= 1 {
		copy(q.x, x)
		qf.layer(m.bl, q, &qf.Layers[from-1], N, th)
		layer(from, q.x)
		return
	}
	layerNorm(q.x, qf.QueryTokens, c.Queries, c.Width, qf.EmbeddingsLayerNormWeight, qf.EmbeddingsLayerNormBias, c.Eps, th)
	layer(0, q.x)
	for i := range qf.Layers {
		qf.layer(m.bl, q, &qf.Layers[i], N, th)
		layer(i+1, q.x)
	}
}

// SwinBlockForTest runs block b of Swin stage s on x [L,C] and returns a
// copy of the result.
func (m *Model) SwinBlockForTest(s, b int, x []float32) []float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states()
	st := &m.Swin.Stages[s]
	copy(m.sw.x, x)
	m.Swin.block(m.bl, m.sw, st, &st.Blocks[b], m.threads)
	return append([]float32(nil), m.sw.x[:len(x)]...)
}

func (m *Model) states() {
	switch {
	case m.EVA != nil && m.eva == nil:
		m.eva = newEVAState(m.EVA.Config)
		m.qf = newQFormerState(m.QFormer.Config, m.EVA.Config.Tokens())
	case m.Swin != nil && m.sw == nil:
		m.sw = newSwinState(m.Swin.Config)
	}
}
